//! Who asked: the principal and request id every audit record names.

/// Who asked, for the audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: String,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn admin(request_id: Option<String>) -> Self {
        Self {
            principal: "admin".into(),
            request_id,
        }
    }
}
