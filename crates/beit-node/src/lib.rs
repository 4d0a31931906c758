use napi_derive::napi;
#[napi]
pub fn ping() -> u32 {
    1
}
