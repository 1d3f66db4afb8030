//! API tests: the real server on `127.0.0.1:0` with a temporary database and a manual clock,
//! driven over HTTP. One binary for all of them (`cargo test --test api`); each test starts its
//! own server with `helpers::spawn_app()`.

mod attachments;
mod auth;
mod conversations;
mod customers;
mod errors;
mod guards;
mod helpers;
mod inbound;
mod kpi_mail;
mod listing;
mod mail;
mod mail_language;
mod openapi;
mod page_customer;
mod page_dashboard;
mod page_signin;
mod page_ticket;
#[path = "../support/pages.rs"]
#[allow(dead_code)]
mod pages;
mod people;
#[path = "../support/python.rs"]
#[allow(dead_code)]
mod python;
mod replies;
mod reports;
#[path = "../support/server.rs"]
#[allow(dead_code)]
mod server;
mod simulate_parity;
#[path = "../support/smtp.rs"]
#[allow(dead_code)]
mod smtp;
mod surveys;
mod system;
mod tickets;
mod walk;
mod webhooks;
mod workflows;
