//! Connect tickets: the link in a `connection_required` answer (URL-mode elicitation). The
//! MCP specification asks that such a link be bound to the user and not be a pre-authenticated
//! URL: opening it needs a login session of the very user it was made for (another account is
//! refused), and only then starts the upstream connect flow, bound to that user. Expired or
//! used tickets answer 410. No page here: the broker renders [`TicketStep`]s.

use super::McpUsers;
use crate::authorization_server::{random_id, random_secret};
use crate::caller::Caller;
use crate::store::mcp_users::TicketRow;
use crate::store::now_ms;
use crate::store::{StoreError, as_sessions::LoginSession};
use nexus_protocol::mcp::CONNECT_TICKET_PATH_PREFIX;
use nexus_protocol::{ConnectionRequiredReason, SecretString};

/// How long a ticket lives.
pub const TICKET_LIFETIME_MS: i64 = 15 * 60 * 1000;
/// A live ticket is handed out again only while it has at least this long to live.
const TICKET_REUSE_MARGIN_MS: i64 = 5 * 60 * 1000;

/// What opening a ticket leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum TicketStep {
    /// No login session of the ticket's workspace: log in first (the ticket's login page).
    Login,
    /// Go to the provider (the connect flow has started).
    Redirect(String),
    /// A page with this status and message (403 another account, 410 expired or used, …).
    Page { status: u16, message: String },
}

/// The ticket's login form.
#[derive(Debug)]
pub struct TicketLoginView {
    pub csrf: SecretString,
    /// The development login is on (`nexus dev`).
    pub dev_login: bool,
    /// Where the flow goes after the login post (allowed in the page's `form-action`).
    pub next_origin: Option<String>,
}

/// A page instead of the next step: `(status, message)`.
pub type TicketPage = (u16, &'static str);

const INTERNAL: TicketPage = (500, "internal error; see the broker log");
const UNKNOWN: TicketPage = (404, "This connect link is unknown.");
const ANOTHER_ACCOUNT: &str = "This link was made for another account. Log in as the user the \
     application asked for, or ask the application for a new link.";

fn internal(e: StoreError) -> TicketPage {
    tracing::error!(error = %e, "connect ticket: store failure");
    INTERNAL
}

/// 410 for a ticket that can no longer be used, with why.
fn unusable(t: &TicketRow) -> Option<TicketPage> {
    if t.consumed_at.is_some() {
        Some((410, "This connect link was already used."))
    } else if t.expires_at <= now_ms() {
        Some((
            410,
            "This connect link has expired. Ask the application for a new one.",
        ))
    } else {
        None
    }
}

impl McpUsers<'_> {
    /// `{issuer}/as/connect/{ticket}`.
    pub fn connect_url(&self, ticket: &str) -> String {
        format!(
            "{}{CONNECT_TICKET_PATH_PREFIX}{ticket}",
            self.server.issuer()
        )
    }

    /// The live ticket of (workspace, user, provider), or a new one.
    pub(super) async fn ticket_for(
        &self,
        workspace_id: &str,
        user_id: &str,
        provider: &str,
        reason: &ConnectionRequiredReason,
    ) -> Result<TicketRow, StoreError> {
        let now = now_ms();
        if let Some(live) = self
            .store
            .live_connect_ticket(
                workspace_id,
                user_id,
                provider,
                now + TICKET_REUSE_MARGIN_MS,
            )
            .await?
        {
            return Ok(live);
        }
        let ticket = TicketRow {
            id: random_secret().expose().to_owned(),
            elicitation_id: random_id("el_"),
            workspace_id: workspace_id.to_owned(),
            user_id: user_id.to_owned(),
            provider_name: provider.to_owned(),
            reason: reason.as_str().to_owned(),
            created_at: now,
            expires_at: now + TICKET_LIFETIME_MS,
            consumed_at: None,
        };
        self.store.insert_connect_ticket(&ticket).await?;
        Ok(ticket)
    }

    async fn live_ticket(&self, ticket: &str) -> Result<TicketRow, TicketPage> {
        let t = self
            .store
            .connect_ticket(ticket)
            .await
            .map_err(internal)?
            .ok_or(UNKNOWN)?;
        match unusable(&t) {
            Some(page) => Err(page),
            None => Ok(t),
        }
    }

    /// `GET /as/connect/{ticket}` with the browser's login cookie.
    pub async fn open_ticket(&self, ticket: &str, cookie: Option<&str>) -> TicketStep {
        let page = |(status, message): TicketPage| TicketStep::Page {
            status,
            message: message.to_owned(),
        };
        let t = match self.live_ticket(ticket).await {
            Ok(t) => t,
            Err(p) => return page(p),
        };
        let session: Option<LoginSession> = match cookie {
            Some(c) => match self.store.login_session(c).await {
                Ok(s) => s.filter(|s| s.workspace_id == t.workspace_id),
                Err(e) => return page(internal(e)),
            },
            None => None,
        };
        let Some(session) = session else {
            return TicketStep::Login;
        };
        if session.user_id != t.user_id {
            tracing::info!(ticket_user = %t.user_id, "connect ticket opened by another account");
            return TicketStep::Page {
                status: 403,
                message: ANOTHER_ACCOUNT.to_owned(),
            };
        }
        let return_url = format!("{}/done", self.connect_url(&t.id));
        let caller = Caller {
            principal: format!("mcp_user:{}", t.user_id),
            request_id: None,
        };
        match self
            .connections
            .connect_for_user(
                &t.workspace_id,
                &t.provider_name,
                &t.user_id,
                &return_url,
                &caller,
            )
            .await
        {
            Ok(url) => TicketStep::Redirect(url),
            Err(e) => {
                let status = e.code().http_status();
                TicketStep::Page {
                    status: if status >= 500 { 502 } else { status },
                    message: format!("The connect flow could not start: {e}"),
                }
            }
        }
    }

    /// The ticket's login form (a fresh one-time CSRF token each time it is shown).
    pub async fn ticket_login_view(&self, ticket: &str) -> Result<TicketLoginView, TicketPage> {
        let t = self.live_ticket(ticket).await?;
        let csrf = random_secret();
        self.store
            .set_ticket_csrf(&t.id, csrf.expose())
            .await
            .map_err(internal)?;
        Ok(TicketLoginView {
            csrf,
            dev_login: self.server.config().dev_login_password.is_some(),
            next_origin: self.connections.connect_origin(&t.provider_name).await,
        })
    }

    /// The development login posted from the ticket's login form; answers the session cookie.
    pub async fn ticket_dev_login(
        &self,
        ticket: &str,
        csrf: &str,
        username: &str,
        password: &str,
    ) -> Result<SecretString, TicketPage> {
        if !self
            .store
            .take_ticket_csrf(ticket, csrf)
            .await
            .map_err(internal)?
        {
            return Err((403, "This form has expired or was not issued by Nexus."));
        }
        let t = self.live_ticket(ticket).await?;
        self.server
            .dev_login_in_workspace(&t.workspace_id, username, password)
            .await
            .map_err(|e| (e.status, e.message))
    }

    /// `GET /as/connect/{ticket}/done?status=…&connection_id=…` (the connect flow's return):
    /// the ticket is used up when the connection it led to is the user's and active.
    pub async fn ticket_done(
        &self,
        ticket: &str,
        status: Option<&str>,
        connection_id: Option<&str>,
    ) -> TicketPage {
        let t = match self.store.connect_ticket(ticket).await {
            Ok(Some(t)) => t,
            Ok(None) => return UNKNOWN,
            Err(e) => return internal(e),
        };
        let (Some("success"), Some(connection_id)) = (status, connection_id) else {
            return (
                400,
                "The connection was not completed. Open the link from your client again to retry.",
            );
        };
        match self
            .connections
            .is_active_user_connection(&t.workspace_id, &t.provider_name, &t.user_id, connection_id)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return (
                    400,
                    "The connection was not completed. Open the link from your client again to retry.",
                );
            }
            Err(_) => return INTERNAL,
        }
        if let Err(e) = self.store.consume_connect_ticket(&t.id).await {
            return internal(e);
        }
        (200, "Connected — return to your client.")
    }
}
