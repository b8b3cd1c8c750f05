# The user pool the nodes accept tokens from (auth.provider = "cognito"), its app client for
# the web and mobile apps, the hosted-UI domain (authorization code with PKCE), and the group
# whose members are on the premium plan.

resource "aws_cognito_user_pool" "main" {
  name                = var.name
  deletion_protection = "ACTIVE"

  # Users sign in with a user name, which the node turns into the Switchboard name (README,
  # Cognito). Not email-as-username: the pool would then name users by their UUID.
  username_configuration {
    case_sensitive = false
  }
  auto_verified_attributes = ["email"]

  schema {
    name                = "email"
    attribute_data_type = "String"
    required            = true
    mutable             = true
    string_attribute_constraints {
      min_length = 3
      max_length = 254
    }
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  mfa_configuration = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  admin_create_user_config {
    allow_admin_create_user_only = false
  }

  tags = local.tags
}

# A public client (no secret): browsers and phones cannot keep one. The hosted UI's code flow
# with PKCE suits it; the node's own account routes (/api/cognito/*) use USER_PASSWORD_AUTH and
# REFRESH_TOKEN_AUTH (README, Cognito), the Amplify libraries SRP.
resource "aws_cognito_user_pool_client" "web" {
  name            = "${var.name}-web"
  user_pool_id    = aws_cognito_user_pool.main.id
  generate_secret = false

  explicit_auth_flows = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
  ]

  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"] # with PKCE: the app sends an S256 code_challenge, and Cognito then requires its verifier for the tokens
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  callback_urls                        = var.cognito_callback_urls
  logout_urls                          = var.cognito_logout_urls
  supported_identity_providers         = ["COGNITO"]

  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 30
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }

  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"
}

resource "aws_cognito_user_pool_domain" "main" {
  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.main.id
}

resource "aws_cognito_user_group" "premium" {
  count        = var.premium_group == null ? 0 : 1
  name         = var.premium_group
  user_pool_id = aws_cognito_user_pool.main.id
  description  = "Members upload on the premium plan (cognito.premium_group)"
}
