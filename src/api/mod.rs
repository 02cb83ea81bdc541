//! JSON endpoints beside UWS: the files API (users stage job inputs and fetch outputs), the
//! experiments API, signed links for desktop tools, and service health. VOSI lives here too, as it is plain service metadata.

pub mod experiments;
pub mod files;
pub mod health;
pub mod links;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    files::configure(cfg);
    experiments::configure(cfg);
    health::configure(cfg);
    links::configure(cfg);
}
