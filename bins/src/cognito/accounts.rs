//! `CognitoAccounts`: sign-up, confirmation, sign-in, refresh and sign-out against the user pool
//! through the Cognito SDK, for apps without a sign-in UI of their own. Each refusal of the pool
//! becomes a coded `AccountError` (PROTOCOL §3.2); the pool's own messages never reach a client.
//!
//! These are the pool's public operations (no AWS credentials are sent, so the node needs no IAM
//! permissions); the app client must have no secret and allow `USER_PASSWORD_AUTH` and
//! `REFRESH_TOKEN_AUTH`.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};
use serde::Serialize;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::ErrorCode;

use super::CognitoConfig;
use crate::accounts::{AccountError, WRONG_NAME_OR_PASSWORD, refused};

/// Longest name, password, e-mail address and confirmation code passed on to the pool, in
/// bytes (Cognito's own limits: 128, 256, 2048 and 2048); longer ones are refused with 1002
/// before any request.
const MAX_NAME: usize = 128;
const MAX_PASSWORD: usize = 256;
const MAX_FIELD: usize = 2048;

/// The tokens of a sign-in or a refresh. `refresh_token` only from a sign-in.
#[derive(Debug, Serialize)]
pub struct PoolTokens {
    /// The ID token: what `/ws` and the API accept (the access token works too).
    pub token: String,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds the ID and access tokens are valid for.
    pub expires_in: i32,
}

/// The pool's account operations for one app client.
pub struct CognitoAccounts {
    client: Client,
    client_id: String,
}

impl CognitoAccounts {
    /// A client for `config`'s pool, at `config.endpoint` when set (a local stand-in), else the
    /// region's AWS endpoint. Nothing is sent until the first request.
    pub async fn connect(config: &CognitoConfig) -> Self {
        let mut loader = switchboard_media::aws::sdk_loader(&config.region).no_credentials();
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        CognitoAccounts {
            client: Client::new(&loader.load().await),
            client_id: config.client_id.clone(),
        }
    }

    /// Creates an account in the pool; whether the pool confirmed it at once (otherwise it sent
    /// a code, to be given to [`CognitoAccounts::confirm`]).
    pub async fn sign_up(
        &self,
        name: &str,
        password: &str,
        email: Option<&str>,
    ) -> Result<bool, AccountError> {
        check(name, MAX_NAME, "name")?;
        check(password, MAX_PASSWORD, "password")?;
        let mut request = self
            .client
            .sign_up()
            .client_id(&self.client_id)
            .username(name)
            .password(password);
        if let Some(email) = email {
            check(email, MAX_FIELD, "email")?;
            let attribute = AttributeType::builder()
                .name("email")
                .value(email)
                .build()
                .map_err(|e| internal("sign-up", &e))?;
            request = request.user_attributes(attribute);
        }
        let out = request
            .send()
            .await
            .map_err(|e| refusal("sign-up", e, WRONG_NAME_OR_PASSWORD))?;
        Ok(out.user_confirmed())
    }

    /// Confirms a new account with the code the pool sent.
    pub async fn confirm(&self, name: &str, code: &str) -> Result<(), AccountError> {
        check(name, MAX_NAME, "name")?;
        check(code, MAX_FIELD, "code")?;
        self.client
            .confirm_sign_up()
            .client_id(&self.client_id)
            .username(name)
            .confirmation_code(code)
            .send()
            .await
            .map_err(|e| refusal("confirm", e, WRONG_NAME_OR_PASSWORD))?;
        Ok(())
    }

    /// Signs in with name and password (`USER_PASSWORD_AUTH`).
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<PoolTokens, AccountError> {
        check(name, MAX_NAME, "name")?;
        check(password, MAX_PASSWORD, "password")?;
        self.initiate(
            AuthFlowType::UserPasswordAuth,
            &[("USERNAME", name), ("PASSWORD", password)],
            WRONG_NAME_OR_PASSWORD,
        )
        .await
    }

    /// Fresh ID and access tokens for a refresh token (`REFRESH_TOKEN_AUTH`).
    pub async fn refresh(&self, refresh_token: &str) -> Result<PoolTokens, AccountError> {
        check(refresh_token, MAX_FIELD * 4, "refresh_token")?;
        self.initiate(
            AuthFlowType::RefreshTokenAuth,
            &[("REFRESH_TOKEN", refresh_token)],
            refused(ErrorCode::InvalidToken, "invalid refresh token"),
        )
        .await
    }

    /// Signs the user out everywhere (`GlobalSignOut`): their refresh tokens stop working.
    pub async fn sign_out(&self, access_token: &str) -> Result<(), AccountError> {
        self.client
            .global_sign_out()
            .access_token(access_token)
            .send()
            .await
            .map_err(|e| refusal("sign-out", e, ErrorCode::InvalidToken.into()))?;
        Ok(())
    }

    async fn initiate(
        &self,
        flow: AuthFlowType,
        parameters: &[(&str, &str)],
        not_authorized: AccountError,
    ) -> Result<PoolTokens, AccountError> {
        let mut request = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(flow);
        for (key, value) in parameters {
            request = request.auth_parameters(*key, *value);
        }
        let out = request
            .send()
            .await
            .map_err(|e| refusal("sign-in", e, not_authorized))?;
        let Some(result) = out.authentication_result() else {
            // A challenge (a new password, MFA): a step these routes do not offer.
            return Err(refused(
                ErrorCode::Forbidden,
                "the user pool asks for a further sign-in step (a new password or MFA)",
            ));
        };
        let (Some(token), Some(access)) = (result.id_token(), result.access_token()) else {
            return Err(internal("sign-in", &"no tokens in the pool's answer"));
        };
        Ok(PoolTokens {
            token: token.to_owned(),
            access_token: access.to_owned(),
            refresh_token: result.refresh_token().map(str::to_owned),
            expires_in: result.expires_in(),
        })
    }
}

/// A field is refused (1002) when empty or longer than `max` bytes.
fn check(value: &str, max: usize, field: &'static str) -> Result<(), AccountError> {
    if value.is_empty() || value.len() > max {
        let message = match field {
            "name" => "the name must be 1 to 128 bytes long",
            "password" => "the password must be 1 to 256 bytes long",
            _ => "a field is empty or too long",
        };
        return Err(refused(ErrorCode::InvalidArgument, message));
    }
    Ok(())
}

/// The coded refusal for an error of the pool, by its error code; `not_authorized` answers
/// `NotAuthorizedException` and `UserNotFoundException` (the same, so that a refusal does not
/// tell whether a name exists).
fn refusal<E: ProvideErrorMetadata + std::fmt::Debug>(
    op: &str,
    error: E,
    not_authorized: AccountError,
) -> AccountError {
    match error.code() {
        Some("NotAuthorizedException" | "UserNotFoundException") => not_authorized,
        Some("UserNotConfirmedException") => ErrorCode::Unconfirmed.into(),
        Some("UsernameExistsException" | "AliasExistsException") => {
            refused(ErrorCode::Conflict, "that name is taken")
        }
        Some("InvalidPasswordException") => refused(
            ErrorCode::InvalidArgument,
            "the password does not meet the user pool's password policy",
        ),
        Some("CodeMismatchException" | "ExpiredCodeException") => refused(
            ErrorCode::InvalidArgument,
            "wrong or expired confirmation code",
        ),
        Some("InvalidParameterException") => refused(
            ErrorCode::InvalidArgument,
            "the user pool refused a field (name, password or email)",
        ),
        Some(
            "TooManyRequestsException"
            | "LimitExceededException"
            | "TooManyFailedAttemptsException",
        ) => ErrorCode::RateLimited.into(),
        _ => internal(op, &error),
    }
}

/// Any other failure (the pool unreachable, an answer the SDK could not read): logged at a
/// bounded rate, with the failed sign-ins, and answered 5000.
fn internal(op: &str, error: &dyn std::fmt::Debug) -> AccountError {
    refusal::note(
        Refusal::AuthFailed,
        format_args!("Cognito {op} failed: {error:?}"),
    );
    ErrorCode::Internal.into()
}
