// `sqlx::migrate!` (src/db/mod.rs) embeds the files of migrations/ when the crate compiles; cargo
// does not know that, so a new migration would not be picked up without this line.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
