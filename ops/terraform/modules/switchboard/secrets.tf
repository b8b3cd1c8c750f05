# Generated secrets and the Secrets Manager entries the task reads through `secrets` (the
# execution role fetches them at task start; they never appear in the task definition).
#
# The node takes whole URLs (database.url, cluster.redis_url), so each secret holds the URL
# built from the generated password as well as the parts. The values are in the Terraform
# state too: keep the state bucket encrypted and its access as narrow as the secrets' own
# (docs/DEPLOY.md, step 1).

resource "random_password" "database" {
  length  = 40
  special = false # it goes into a URL unescaped
}

resource "random_password" "redis" {
  count   = var.redis_tls ? 1 : 0
  length  = 64
  special = false
}

resource "random_password" "token_secret" {
  length  = 64
  special = false
}

resource "random_password" "dashboard_admin_token" {
  length  = 40
  special = false
}

locals {
  redis_host = aws_elasticache_replication_group.redis.primary_endpoint_address
  redis_url = (
    var.redis_tls
    ? "rediss://:${random_password.redis[0].result}@${local.redis_host}:6379"
    : "redis://${local.redis_host}:6379"
  )
  database_url = format(
    "postgres://%s:%s@%s:%d/%s%s",
    aws_db_instance.postgres.username,
    random_password.database.result,
    aws_db_instance.postgres.address,
    aws_db_instance.postgres.port,
    aws_db_instance.postgres.db_name,
    var.db_tls ? "?sslmode=require" : "",
  )
}

resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:Rotation needs a rotation function that rewrites both the RDS password and the URL the node reads, and a rolling restart of the nodes (the pool keeps its connections); docs/DEPLOY.md describes rotating by hand.
  name                    = "switchboard/${var.name}/database"
  description             = "Postgres credentials and database.url for the Switchboard nodes"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string = jsonencode({
    engine   = "postgres"
    host     = aws_db_instance.postgres.address
    port     = aws_db_instance.postgres.port
    dbname   = aws_db_instance.postgres.db_name
    username = aws_db_instance.postgres.username
    password = random_password.database.result
    url      = local.database_url
  })
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:The Redis URL changes only with the replication group (and its AUTH token with var.redis_tls, rotated by hand: docs/DEPLOY.md).
  name                    = "switchboard/${var.name}/redis"
  description             = "cluster.redis_url for the Switchboard nodes"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id     = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({ url = local.redis_url })
}

resource "aws_secretsmanager_secret" "node" {
  #checkov:skip=CKV2_AWS_57:Rotating auth.token_secret ends every session it signed, and every node must switch at once; docs/DEPLOY.md describes doing it by hand during a deploy.
  name                    = "switchboard/${var.name}/node"
  description             = "auth.token_secret and dashboard.admin_token for the Switchboard nodes"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "node" {
  secret_id = aws_secretsmanager_secret.node.id
  secret_string = jsonencode({
    token_secret          = random_password.token_secret.result
    dashboard_admin_token = random_password.dashboard_admin_token.result
  })
}
