//! Files on tickets over real HTTP: raw and multipart uploads, listing, byte-identical
//! downloads with safe headers, content stored once, the workflow's limits, who may attach
//! and read, `file` form fields, and mail that carries a ticket's file to a real SMTP server.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use mail_parser::MimeHeaders as _;

use crate::helpers::{TestApp, User, encode, error_fields, expect_problem, expect_status, header, spawn_app_with};
use crate::mail::{WAIT, app_with_mail};
use crate::smtp::SmtpSink;

/// A small repair workflow with tight file limits and a mail that sends the service report.
pub const REPAIRS: &str = r#"
id = "repairs"
name = "Repairs (attachments fixture)"
ticket_prefix = "RP"

[roles]
technician = ["tina@example.com"]
clerk = ["carl@example.com"]

[attachments]
max_file_bytes = 2048
max_ticket_bytes = 4096
max_files = 4

[forms.report]
fields = [
  { name = "service_report", type = "file" },
  { name = "photos", type = "files" },
]

[stages.repair]
raci = { responsible = "technician" }
forms = ["report"]
transitions = [{ name = "done", to = "done" }]

[stages.done]
terminal = true

[[notifications]]
on = "closed"
notify = ["customer"]
attach = ["report.service_report"]
"#;

/// The server with [`REPAIRS`], and a JSON body limit (1 KiB) below the files the workflow
/// allows (2 KiB): the attachment route reads up to the workflow's limits instead.
async fn app() -> TestApp {
    spawn_app_with(|config| {
        config.max_body_bytes = 1024;
        std::fs::write(config.workflows.join("repairs.toml"), REPAIRS).expect("write the workflow");
    })
    .await
}

async fn open_repair(user: &User) -> String {
    let ticket = user
        .open(json!({
            "workflow": "repairs",
            "subject": "Dishwasher leaks",
            "customer": { "name": "Sam", "email": "sam@example.org" }
        }))
        .await;
    ticket["number"].as_str().expect("a number").to_string()
}

/// Uploads `bytes` as a raw body named by `?name=`.
async fn upload_raw(user: &User, ticket: &str, name: &str, content_type: &str, bytes: &[u8]) -> reqwest::Response {
    user.request(Method::POST, &format!("/v1/tickets/{ticket}/attachments?name={}", encode(name)))
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("request")
}

/// A multipart/form-data body of `(part name, file name, media type, bytes)`.
fn multipart(parts: &[(&str, &str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "afterdesk-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (part, file, kind, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{part}\"; filename=\"{file}\"\r\n").as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {kind}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_multipart(user: &User, ticket: &str, parts: &[(&str, &str, &str, &[u8])]) -> reqwest::Response {
    let (content_type, body) = multipart(parts);
    user.request(Method::POST, &format!("/v1/tickets/{ticket}/attachments"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().expect("a list of files")
}

#[tokio::test]
async fn uploads_raw_and_multipart_are_listed_downloaded_intact_and_stored_once() {
    let app = app().await;
    let tina = app.agent("tina@example.com").await;
    let number = open_repair(&tina).await;
    let pdf: Vec<u8> = (0..=255u8).cycle().take(1500).collect();

    let raw = expect_status(
        upload_raw(&tina, &number, "گزارش سرویس.pdf", "application/pdf", &pdf).await,
        StatusCode::CREATED,
    )
    .await;
    let first = items(&raw).remove(0);
    assert_eq!(first["name"], "گزارش سرویس.pdf");
    assert_eq!(first["content_type"], "application/pdf");
    assert_eq!(first["size"], 1500, "larger than the server's JSON body limit, within the workflow's");

    let photo = b"\x89PNG\r\n\x1a\n not really a photo";
    let response = upload_multipart(
        &tina,
        &number,
        &[("file", "../../etc/photo.png", "image/png", photo), ("file", "copy.pdf", "application/pdf", &pdf)],
    )
    .await;
    let parts = items(&expect_status(response, StatusCode::CREATED).await);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["name"], "photo.png", "folders are dropped from names");
    assert_eq!(parts[1]["sha256"], first["sha256"], "the same content has the same blob");
    assert_ne!(parts[1]["id"], first["id"], "but is a file of its own on the ticket");

    let listed =
        items(&expect_status(tina.get(&format!("/v1/tickets/{number}/attachments")).await, StatusCode::OK).await);
    let names: Vec<&str> = listed.iter().map(|f| f["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["گزارش سرویس.pdf", "photo.png", "copy.pdf"]);
    let ticket = tina.ticket(&number).await;
    assert_eq!(ticket["attachments"].as_array().map(Vec::len), Some(3));

    let id = first["id"].as_str().expect("id");
    let response = tina.get(&format!("/v1/tickets/{number}/attachments/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type").as_deref(), Some("application/pdf"));
    assert_eq!(header(&response, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header(&response, "content-security-policy").as_deref(), Some("sandbox"));
    assert_eq!(header(&response, "content-length").as_deref(), Some("1500"));
    let disposition = header(&response, "content-disposition").expect("a disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%DA%AF%D8%B2%D8%A7%D8%B1%D8%B4%20%D8%B3%D8%B1%D9%88%DB%8C%D8%B3.pdf"),
        "{disposition}"
    );
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.as_ref(), pdf.as_slice(), "the download is the upload, byte for byte");

    let events = expect_status(tina.get(&format!("/v1/tickets/{number}/events")).await, StatusCode::OK).await;
    let attached: Vec<&Value> =
        events["items"].as_array().expect("events").iter().filter(|e| e["kind"] == "attached").collect();
    assert_eq!(attached.len(), 3);
    assert_eq!(attached[0]["actor"]["id"], "tina@example.com");
    assert_eq!(attached[0]["attachment"]["id"], first["id"]);

    // A Content-Disposition header names a raw upload as well.
    let response = tina
        .request(Method::POST, &format!("/v1/tickets/{number}/attachments"))
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-disposition", "attachment; filename*=UTF-8''notes%20v2.txt")
        .body("checked the pump")
        .send()
        .await
        .expect("request");
    let notes = items(&expect_status(response, StatusCode::CREATED).await).remove(0);
    assert_eq!(notes["name"], "notes v2.txt");
    assert_eq!(notes["content_type"], "text/plain; charset=utf-8");
    app.stop().await;
}

#[tokio::test]
async fn files_beyond_the_workflows_limits_are_refused_naming_the_field() {
    let app = app().await;
    let tina = app.agent("tina@example.com").await;
    let number = open_repair(&tina).await;
    let path = format!("/v1/tickets/{number}/attachments");

    let big = vec![7u8; 2049];
    let problem = expect_problem(
        upload_raw(&tina, &number, "big.bin", "application/octet-stream", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
    )
    .await;
    assert_eq!(error_fields(&problem), ["file"]);
    let response = upload_multipart(
        &tina,
        &number,
        &[("file", "ok.txt", "text/plain", b"ok"), ("file", "big.bin", "application/octet-stream", &big)],
    )
    .await;
    let problem = expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    assert_eq!(error_fields(&problem), ["file[1]"]);

    let problem = expect_problem(
        tina.request(Method::POST, &path)
            .header("content-type", "text/plain")
            .body("no name")
            .send()
            .await
            .expect("request"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["name"]);
    let problem = expect_problem(
        upload_raw(&tina, &number, "x.txt", "not a type", b"x").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["content_type"]);
    let response = upload_multipart(&tina, &number, &[("photo", "a.png", "image/png", b"x")]).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&problem), ["photo"]);

    // Two files of 2000 bytes fit the ticket's 4096; a third does not.
    for i in 0..2u8 {
        expect_status(
            upload_raw(&tina, &number, "part.bin", "application/octet-stream", &vec![i; 2000]).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let problem = expect_problem(
        upload_raw(&tina, &number, "third.bin", "application/octet-stream", &[9u8; 200]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["file"]);
    assert!(problem["detail"].as_str().unwrap_or_default().contains("4096"), "{problem}");

    // And no more than four files, however small.
    expect_status(upload_raw(&tina, &number, "a.txt", "text/plain", b"a").await, StatusCode::CREATED).await;
    expect_status(upload_raw(&tina, &number, "b.txt", "text/plain", b"b").await, StatusCode::CREATED).await;
    let problem = expect_problem(
        upload_raw(&tina, &number, "c.txt", "text/plain", b"c").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap_or_default().contains("at most 4 files"), "{problem}");
    let listed = expect_status(tina.get(&path).await, StatusCode::OK).await;
    assert_eq!(items(&listed).len(), 4, "refused files are not listed");
    app.stop().await;
}

#[tokio::test]
async fn only_those_who_may_comment_attach_and_only_those_who_see_the_ticket_read() {
    let app = app().await;
    let tina = app.agent("tina@example.com").await;
    let carl = app.agent("carl@example.com").await;
    let mallory = app.agent("mallory@example.com").await;
    let web = app.integrator("web-form").await;
    let number = open_repair(&web).await;
    let path = format!("/v1/tickets/{number}/attachments");

    // An integration attaches (the customer's photo from a web form).
    let file = items(
        &expect_status(upload_raw(&web, &number, "photo.jpg", "image/jpeg", b"jpeg").await, StatusCode::CREATED).await,
    )
    .remove(0);
    let download = format!("{path}/{}", file["id"].as_str().expect("id"));

    // A clerk of the workflow sees the ticket but is not one who works or comments here.
    expect_problem(upload_raw(&carl, &number, "x.txt", "text/plain", b"x").await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let seen = carl.get(&download).await;
    assert_eq!(seen.status(), StatusCode::OK);
    assert_eq!(seen.bytes().await.expect("body").as_ref(), b"jpeg");
    // Someone with no role in the workflow does not even learn that the ticket exists.
    expect_problem(
        upload_raw(&mallory, &number, "x.txt", "text/plain", b"x").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    expect_problem(mallory.get(&path).await, StatusCode::NOT_FOUND, "not-found").await;
    expect_problem(mallory.get(&download).await, StatusCode::NOT_FOUND, "not-found").await;
    // Nor does anyone download a file the ticket does not have.
    let stranger = format!("{path}/01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let problem = expect_problem(tina.get(&stranger).await, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(error_fields(&problem), ["attachment_id"]);
    let anonymous = app.anonymous(Method::GET, &download).send().await.expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let listed = expect_status(tina.get(&path).await, StatusCode::OK).await;
    assert_eq!(items(&listed).len(), 1, "refused uploads attach nothing");

    // A closed ticket takes no more files, though its files stay readable.
    tina.transition(&number, "done").await;
    expect_problem(
        upload_raw(&tina, &number, "late.txt", "text/plain", b"late").await,
        StatusCode::CONFLICT,
        "ticket-finished",
    )
    .await;
    expect_status(tina.get(&path).await, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn a_file_field_takes_only_files_of_its_ticket() {
    let app = app().await;
    let tina = app.agent("tina@example.com").await;
    let number = open_repair(&tina).await;
    let other = open_repair(&tina).await;
    let mine = items(
        &expect_status(upload_raw(&tina, &number, "report.pdf", "application/pdf", b"%PDF").await, StatusCode::CREATED)
            .await,
    )
    .remove(0);
    let theirs = items(
        &expect_status(
            upload_raw(&tina, &other, "report.pdf", "application/pdf", b"%PDF-other").await,
            StatusCode::CREATED,
        )
        .await,
    )
    .remove(0);
    let save = |values: Value| {
        let tina = &tina;
        let number = number.clone();
        async move { tina.put(&format!("/v1/tickets/{number}/forms/report"), values).await }
    };

    let problem = expect_problem(
        save(json!({ "service_report": theirs["id"] })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["forms.report.service_report"]);
    let problem = expect_problem(
        save(json!({ "service_report": "report.pdf" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["forms.report.service_report"]);
    let problem = expect_problem(
        save(json!({ "photos": [mine["id"], theirs["id"]] })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["forms.report.photos"]);

    let ticket =
        expect_status(save(json!({ "service_report": mine["id"], "photos": [mine["id"]] })).await, StatusCode::OK)
            .await;
    assert_eq!(ticket["forms"]["report"]["service_report"], mine["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_closing_mail_carries_the_service_report_to_the_smtp_server() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(REPAIRS), 5).await;
    let tina = app.agent("tina@example.com").await;
    let number = open_repair(&tina).await;
    let report: Vec<u8> = b"%PDF-1.7 service report \x00\x01\x02\xff".repeat(20);
    let file = items(
        &expect_status(
            upload_raw(&tina, &number, "service report.pdf", "application/pdf", &report).await,
            StatusCode::CREATED,
        )
        .await,
    )
    .remove(0);
    tina.save_form(&number, "report", json!({ "service_report": file["id"] })).await;
    tina.transition(&number, "done").await;

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "one closing mail");
    let mail = &mails[0];
    assert_eq!(mail.to, ["sam@example.org"]);
    let parsed = mail_parser::MessageParser::default().parse(&mail.raw).expect("a MIME message");
    let attachment = parsed.attachment(0).expect("the mail carries a file");
    assert_eq!(attachment.attachment_name(), Some("service report.pdf"));
    assert_eq!(attachment.contents(), report.as_slice(), "the file arrives byte for byte");
    assert!(parsed.attachment(1).is_none(), "only the file the rule names");
    assert!(mail.text.as_deref().is_some_and(|text| !text.is_empty()), "the text is still there");

    // The outbox records which file, so a retry sends the same one.
    let sent = crate::mail::outbox(&app, "sent").await;
    assert_eq!(sent[0]["payload"]["attachments"][0]["sha256"], file["sha256"]);
    app.stop().await;
}
