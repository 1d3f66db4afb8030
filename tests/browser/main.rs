//! Browser tests: the real server on `127.0.0.1:0`, the real SMTP sink, and Debian's Chromium
//! driven over WebDriver ([`browser::Browser`]). Each page is shown in English and Persian and
//! saved as a screenshot under `<target>/browser-artifacts/`; the browser console must stay free
//! of errors and axe-core must find no serious accessibility violation.
//!
//! One binary for all of them (`cargo test --test browser`).

#[path = "../support/browser.rs"]
#[allow(dead_code)]
mod browser;
mod customer;
mod dashboard;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod journey;
#[path = "../support/node.rs"]
mod node;
#[path = "../support/pages.rs"]
#[allow(dead_code)]
mod pages;
#[path = "../support/python.rs"]
#[allow(dead_code)]
mod python;
mod signin;
#[path = "../support/smtp.rs"]
#[allow(dead_code)]
mod smtp;
mod ticket;
