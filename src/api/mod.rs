//! JSON endpoints beside UWS: the files API (users stage job inputs and fetch outputs), the
//! experiments API, and service health. VOSI lives here too, as it is plain service metadata.

pub mod experiments;
pub mod files;
pub mod health;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    files::configure(cfg);
    experiments::configure(cfg);
    health::configure(cfg);
}
