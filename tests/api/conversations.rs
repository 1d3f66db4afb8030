//! Conversations end to end (issue 13 "Done when"): a customer writes with a real SMTP client
//! (lettre) to the built-in receiver, the ticket appears with the mail's text and file; an
//! agent's public reply reaches a real SMTP server (aiosmtpd) in the ticket's thread; the
//! customer's answer to that mail lands on the same ticket, without the quoted history, and
//! moves it out of the waiting stage. Around that: an autoresponder that answers everything
//! gets one message, not a loop; a bounce marks the outbox message; mail handed in over
//! `POST /v1/inbound/email`; replies to closed tickets; our own mail coming back.

use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SUPPORT_ADDRESS, TestApp, expect_problem, expect_status, spawn_app_with, with_receiver};
use crate::mail::{WAIT, outbox, wait_outbox};
use crate::smtp::{Mail, SmtpSink};

const CUSTOMER: &str = "sam@customer.test";

/// The server with the receiver on and mail going to `sink`.
async fn desk(sink: &SmtpSink) -> TestApp {
    let port = sink.port();
    spawn_app_with(move |config| {
        with_receiver(config);
        config.mail.disabled = false;
        config.mail.port = port;
        config.mail.from = "Afterdesk <desk@afterdesk.test>".into();
        config.delivery.first_retry_ms = 100;
        config.delivery.max_retry_ms = 200;
        config.delivery.max_attempts = Some(3);
    })
    .await
}

/// Sends `message` to the receiver with lettre, expecting `250`.
async fn send(app: &TestApp, message: Message) {
    let smtp = app.smtp.expect("the receiver listens");
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string())
        .port(smtp.port())
        .timeout(Some(WAIT))
        .build();
    let response = client.send(message).await.expect("the receiver takes the message");
    assert_eq!(response.code().to_string(), "250");
}

fn mailbox(text: &str) -> Mailbox {
    text.parse().expect("a mailbox")
}

/// Received mail, newest first.
async fn inbound(app: &TestApp) -> Vec<Value> {
    let body = expect_status(app.admin().get("/v1/inbound?limit=500").await, StatusCode::OK).await;
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// Waits until `count` messages were received and none is pending; returns them, oldest first.
async fn processed(app: &TestApp, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut all = inbound(app).await;
        if all.len() >= count && all.iter().all(|m| m["outcome"]["state"] != "pending") {
            all.reverse();
            return all;
        }
        assert!(Instant::now() < deadline, "{count} messages not processed in time: {all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events(app: &TestApp, ticket: &str) -> Vec<Value> {
    let body = expect_status(app.admin().get(&format!("/v1/tickets/{ticket}/events")).await, StatusCode::OK).await;
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The mail at the sink to `to` whose subject contains `subject`, waiting for it.
async fn mail_to(sink: &SmtpSink, to: &str, subject: &str) -> Mail {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(mail) =
            sink.messages().into_iter().find(|m| m.envelope_to.iter().any(|t| t == to) && m.subject.contains(subject))
        {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail to {to} about \"{subject}\"");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A customer's answer to `mail`, in its thread, quoting it below the new text.
fn answer(mail: &Mail, text: &str) -> Message {
    let id = mail.message_id.clone().expect("our mail has a Message-ID");
    let mut references: Vec<String> = mail.references.iter().map(|r| format!("<{r}>")).collect();
    references.push(format!("<{id}>"));
    let quoted: String = mail.text.as_deref().unwrap_or("").lines().map(|l| format!("> {l}\n")).collect();
    Message::builder()
        .from(mailbox(&format!("Sam <{CUSTOMER}>")))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject(format!("Re: {}", mail.subject))
        .in_reply_to(format!("<{id}>"))
        .references(references.join(" "))
        .body(format!("{text}\n\nOn Monday, Afterdesk <desk@afterdesk.test> wrote:\n{quoted}"))
        .expect("a message")
}

#[tokio::test]
async fn mail_in_reply_out_answer_in_moves_the_ticket_on() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;

    // The customer writes, with a photo of the fault.
    let photo = b"\x89PNG\r\n\x1a\n fake image bytes \x00\x01\x02".to_vec();
    let first = Message::builder()
        .from(mailbox(&format!("Sam Rahimi <{CUSTOMER}>")))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject("Dishwasher leaks")
        .message_id(Some("<first@customer.test>".into()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("Water under the DW-500 after every wash.\n\n-- \nSam".to_string()))
                .singlepart(
                    Attachment::new("leak.png".into())
                        .body(photo.clone(), ContentType::parse("image/png").expect("type")),
                ),
        )
        .expect("a message");
    send(&app, first).await;
    let received = processed(&app, 1).await;
    assert_eq!(received[0]["outcome"]["state"], "opened", "{:#?}", received[0]);
    let number = received[0]["outcome"]["number"].as_str().expect("the ticket's number").to_string();

    let ticket = app.admin().ticket(&number).await;
    assert_eq!(ticket["subject"], "Dishwasher leaks");
    assert_eq!(ticket["channel"], "email");
    assert!(ticket["description"].as_str().is_some_and(|d| d.contains("Water under the DW-500")), "{ticket:#?}");
    let customer = expect_status(
        app.admin().get(&format!("/v1/customers/{}", ticket["customer"].as_str().expect("id"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(customer["email"], CUSTOMER);
    assert_eq!(customer["name"], "Sam Rahimi");
    let files = ticket["attachments"].as_array().expect("attachments");
    assert_eq!(files.len(), 1, "{files:#?}");
    assert_eq!(files[0]["name"], "leak.png");
    assert_eq!(files[0]["content_type"], "image/png");
    let download =
        app.admin().get(&format!("/v1/tickets/{number}/attachments/{}", files[0]["id"].as_str().expect("id"))).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.expect("bytes").to_vec(), photo, "the file byte for byte");
    let kinds: Vec<Value> = events(&app, &number).await.iter().map(|e| e["kind"].clone()).collect();
    assert!(kinds.contains(&json!("mail_received")) && kinds.contains(&json!("attached")), "{kinds:?}");

    // An agent asks for the serial number: a public reply, mailed in the ticket's thread.
    let agent = app.admin();
    agent.save_form(&number, "request", json!({"product": "DW-500", "problem": "Water under the machine"})).await;
    agent.tick(&number, "Customer and product identified").await;
    agent.tick(&number, "Request confirmed with the customer").await;
    agent.transition(&number, "accept").await;
    agent.transition(&number, "ask_customer").await;
    assert_eq!(app.admin().ticket(&number).await["stage"], "waiting_customer");
    let question = "Could you send us the serial number from the label inside the door?";
    agent.command(&number, "comments", json!({ "body": question, "public": true })).await;
    let reply = mail_to(&sink, CUSTOMER, &format!("[{number}]")).await;
    let reply = if reply.text.as_deref().is_some_and(|t| t.contains(question)) {
        reply
    } else {
        // The receipt came first; wait for the reply itself.
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(mail) =
                sink.messages().into_iter().find(|m| m.text.as_deref().is_some_and(|t| t.contains(question)))
            {
                break mail;
            }
            assert!(Instant::now() < deadline, "the public reply did not arrive");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let root = format!("ticket-{}@afterdesk.test", ticket["id"].as_str().expect("id"));
    assert_eq!(reply.envelope_to, [CUSTOMER]);
    assert_eq!(reply.in_reply_to.as_deref(), Some(root.as_str()), "in the ticket's thread");
    assert!(reply.references.contains(&root));
    assert!(reply.message_id.is_some());

    // The customer answers that mail; the quoted question and the signature stay out.
    send(&app, answer(&reply, "The serial number is SN-4471-B.")).await;
    let received = processed(&app, 2).await;
    assert_eq!(received[1]["outcome"]["state"], "added", "{:#?}", received[1]);
    assert_eq!(received[1]["outcome"]["number"], number.as_str(), "the same ticket");
    let ticket = app.admin().ticket(&number).await;
    assert_eq!(ticket["stage"], "review", "the answer moves it out of waiting_customer");
    let all = events(&app, &number).await;
    let replied = all.iter().find(|e| e["kind"] == "customer_replied").expect("a customer_replied event");
    assert_eq!(replied["body"], "The serial number is SN-4471-B.", "new text only");
    assert_eq!(replied["actor"]["kind"], "customer");
    assert_eq!(replied["mail"]["from"], CUSTOMER);
    // The original, quotes and all, is kept.
    let original = replied["mail"]["original"].as_str().expect("the original's digest");
    assert_eq!(received[1]["raw_sha256"], original);
    assert!(all.iter().any(|e| e["kind"] == "stage_changed" && e["to"] == "review"), "{all:#?}");
    app.stop().await;
}

#[tokio::test]
async fn an_autoresponder_gets_one_message_and_no_loop() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;
    let new = Message::builder()
        .from(mailbox(CUSTOMER))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject("Fridge is warm")
        .body("The fridge stopped cooling.".to_string())
        .expect("a message");
    send(&app, new).await;
    let number = processed(&app, 1).await[0]["outcome"]["number"].as_str().expect("a ticket").to_string();

    // The customer's mailbox answers every mail it gets, as autoresponders do; it stops only
    // when nothing more comes for a while.
    let mut answered = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        let unanswered: Vec<Mail> = sink
            .messages()
            .into_iter()
            .filter(|m| m.envelope_to.iter().any(|t| t == CUSTOMER))
            .filter(|m| !answered.contains(&m.message_id))
            .collect();
        for mail in unanswered {
            answered.push(mail.message_id.clone());
            let id = mail.message_id.clone().expect("a Message-ID");
            let auto = Message::builder()
                .from(mailbox(CUSTOMER))
                .to(mailbox(SUPPORT_ADDRESS))
                .subject(format!("Automatic reply: {}", mail.subject))
                .in_reply_to(format!("<{id}>"))
                .references(format!("<{id}>"))
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body("I am on holiday until Monday.".to_string())
                .expect("a message");
            send(&app, auto).await;
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.advance(chrono::Duration::milliseconds(250));
    }
    assert_eq!(answered.len(), 1, "one message (the receipt) reached the autoresponder, and nothing answered it");
    let received = processed(&app, 2).await;
    assert_eq!(received[1]["outcome"]["state"], "added", "recorded on the ticket: {:#?}", received[1]);
    let all = events(&app, &number).await;
    let auto = all.iter().find(|e| e["kind"] == "customer_replied").expect("the auto-reply is on the ticket");
    assert!(auto["mail"]["unanswered"].as_str().is_some_and(|u| u.contains("automatic")), "{auto:#?}");
    assert_eq!(app.admin().ticket(&number).await["stage"], "intake", "it moved nothing");
    let sent = wait_outbox(&app, "sent", "the receipt", |m| !m.is_empty()).await;
    assert_eq!(sent.len() + outbox(&app, "pending").await.len(), 1, "no mail to staff or customer about it");
    app.stop().await;
}

#[tokio::test]
async fn machines_and_our_own_mail_open_no_tickets() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;
    let bulk = Message::builder()
        .from(mailbox("news@shop.test"))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject("Our November offers")
        .header(Precedence("bulk".into()))
        .body("Sale!".to_string())
        .expect("a message");
    let ours = Message::builder()
        .from(mailbox("Afterdesk <desk@afterdesk.test>"))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject("We received your request")
        .body("Hello".to_string())
        .expect("a message");
    send(&app, bulk).await;
    send(&app, ours).await;
    let received = processed(&app, 2).await;
    for mail in &received {
        assert_eq!(mail["outcome"]["state"], "ignored", "{mail:#?}");
    }
    assert!(received[0]["outcome"]["reason"].as_str().is_some_and(|r| r.contains("Precedence")));
    assert!(received[1]["outcome"]["reason"].as_str().is_some_and(|r| r.contains("loop")));
    let list = expect_status(app.admin().get("/v1/tickets").await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "no tickets: {list:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_bounce_marks_the_message_that_bounced() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;
    let opened = app.admin().open(crate::helpers::new_ticket("Oven", "gone@customer.test")).await;
    let receipt = mail_to(&sink, "gone@customer.test", "").await;
    let id = receipt.message_id.clone().expect("a Message-ID");
    let outbox_id = id.split('@').next().expect("local part").to_string();
    let report = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: desk@afterdesk.test\r\nSubject: \
         Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.customer.test>\r\nMIME-Version: \
         1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain\r\n\r\nThis is the mail system.\r\n\r\n--B\r\nContent-Type: \
         message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\nFinal-Recipient: rfc822; \
         gone@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such \
         user\r\n\r\n--B\r\nContent-Type: message/rfc822-headers\r\n\r\nMessage-ID: <{id}>\r\nSubject: \
         {}\r\n\r\n--B--\r\n",
        receipt.subject
    );
    let integration = app.integrator("mail-gateway").await;
    let response = integration
        .request(reqwest::Method::POST, "/v1/inbound/email?mail_from=")
        .header("Content-Type", "message/rfc822")
        .body(report)
        .send()
        .await
        .expect("answered");
    let record = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(record["outcome"]["state"], "ignored", "{record:#?}");
    assert!(record["outcome"]["reason"].as_str().is_some_and(|r| r.contains("bounced")), "{record:#?}");
    let message = expect_status(app.admin().get(&format!("/v1/outbox/{outbox_id}")).await, StatusCode::OK).await;
    assert_eq!(message["state"], "dead", "{message:#?}");
    assert!(
        message["last_error"].as_str().is_some_and(|e| e.contains("bounced") && e.contains("5.1.1")),
        "{message:#?}"
    );
    assert!(message["bounced_at"].is_string(), "{message:#?}");
    let _ = opened;
    app.stop().await;
}

#[tokio::test]
async fn the_raw_route_processes_once_and_refuses_what_it_must() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;
    let raw = format!(
        "From: Nika <nika@customer.test>\r\nTo: {SUPPORT_ADDRESS}\r\nSubject: =?utf-8?q?Washer_=C3=A9rror_E4?=\r\n\
         Message-ID: <raw-1@customer.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><p>The washer shows <b>E4</b>.</p></body></html>\r\n"
    );
    let integration = app.integrator("mail-gateway").await;
    let post = |body: String, content_type: &'static str| {
        integration
            .request(reqwest::Method::POST, "/v1/inbound/email")
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let first = expect_status(post(raw.clone(), "message/rfc822").await.expect("answered"), StatusCode::CREATED).await;
    assert_eq!(first["outcome"]["state"], "opened", "{first:#?}");
    assert_eq!(first["source"]["via"], "api");
    let number = first["outcome"]["number"].as_str().expect("number");
    let ticket = app.admin().ticket(number).await;
    assert_eq!(ticket["subject"], "Washer érror E4");
    let description = ticket["description"].as_str().expect("text");
    assert!(description.contains("E4") && !description.contains("<b>"), "HTML as text: {description}");

    // The same message handed in again (a gateway retrying) lands once.
    let again = expect_status(post(raw, "message/rfc822").await.expect("answered"), StatusCode::CREATED).await;
    assert_eq!(again["outcome"]["state"], "added");
    assert_eq!(again["outcome"]["number"], number);
    let list = expect_status(app.admin().get("/v1/tickets").await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "one ticket");

    expect_problem(
        post("not mail".into(), "application/json").await.expect("answered"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let problem = expect_problem(
        post(String::new(), "message/rfc822").await.expect("answered"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(crate::helpers::error_fields(&problem), ["body"]);
    let agent = app.agent("navid@example.com").await;
    let refused = agent
        .request(reqwest::Method::POST, "/v1/inbound/email")
        .header("Content-Type", "message/rfc822")
        .body("From: a@b.test\r\n\r\nx")
        .send()
        .await
        .expect("answered");
    expect_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    app.stop().await;
}

#[tokio::test]
async fn a_reply_to_a_resolved_ticket_reopens_it() {
    let sink = SmtpSink::start();
    let app = desk(&sink).await;
    let opened = app.admin().open(crate::helpers::new_ticket("Dryer is loud", CUSTOMER)).await;
    let number = opened["number"].as_str().expect("number").to_string();
    app.admin().through_to_survey(&number).await;
    assert_eq!(app.admin().ticket(&number).await["status"], "resolved");
    let resolved = mail_to(&sink, CUSTOMER, "resolved").await;
    send(&app, answer(&resolved, "It is loud again since this morning.")).await;
    let received = processed(&app, 1).await;
    assert_eq!(received[0]["outcome"]["number"], number.as_str(), "{:#?}", received[0]);
    let ticket = app.admin().ticket(&number).await;
    assert_eq!(ticket["status"], "open", "reopened by the reply: {ticket:#?}");
    assert_eq!(ticket["reopened"], 1);

    // A stranger who only knows the number gets no say on it: their mail opens its own ticket.
    let stranger = Message::builder()
        .from(mailbox("mallory@elsewhere.test"))
        .to(mailbox(SUPPORT_ADDRESS))
        .subject(format!("Re: [{number}] close this"))
        .body("Please close it.".to_string())
        .expect("a message");
    send(&app, stranger).await;
    let received = processed(&app, 2).await;
    assert_eq!(received[1]["outcome"]["state"], "opened", "{:#?}", received[1]);
    assert_ne!(received[1]["outcome"]["number"], number.as_str());
    app.stop().await;
}

/// `Precedence:` as bulk mail sends it.
#[derive(Clone)]
struct Precedence(String);

impl lettre::message::header::Header for Precedence {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Precedence")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(text.into()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[tokio::test]
async fn with_follow_up_a_reply_to_a_closed_ticket_opens_a_linked_one() {
    let sink = SmtpSink::start();
    let port = sink.port();
    let app = spawn_app_with(move |config| {
        with_receiver(config);
        config.mail.disabled = false;
        config.mail.port = port;
        config.mail.from = "Afterdesk <desk@afterdesk.test>".into();
        let file = config.workflows.join("after-sales.toml");
        let text = std::fs::read_to_string(&file).expect("the bundled workflow");
        let text = text.replacen("repeat_window = ", "reply_when_closed = \"follow_up\"\nrepeat_window = ", 1);
        std::fs::write(&file, text).expect("write the workflow");
    })
    .await;
    let opened = app.admin().open(crate::helpers::new_ticket("Hood light flickers", CUSTOMER)).await;
    let number = opened["number"].as_str().expect("number").to_string();
    app.admin().through_to_survey(&number).await;
    app.admin().command(&number, "close", json!({})).await;
    assert_eq!(app.admin().ticket(&number).await["status"], "closed");
    let receipt = mail_to(&sink, CUSTOMER, "We received").await;
    send(&app, answer(&receipt, "The light flickers again.")).await;
    let received = processed(&app, 1).await;
    assert_eq!(received[0]["outcome"]["state"], "opened", "{:#?}", received[0]);
    let follow_up = received[0]["outcome"]["number"].as_str().expect("number");
    assert_ne!(follow_up, number.as_str());
    let new = app.admin().ticket(follow_up).await;
    assert_eq!(new["customer"], opened["customer"], "the same customer");
    let links = new["links"].to_string();
    assert!(links.contains("follow_up_of") && links.contains(opened["id"].as_str().expect("id")), "{links}");
    assert_eq!(app.admin().ticket(&number).await["status"], "closed", "the closed ticket stays closed");
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_relays_what_the_customer_wrote() {
    let app = spawn_app_with(|_| {}).await;
    let opened = app.admin().open(crate::helpers::new_ticket("Washer drains slowly", CUSTOMER)).await;
    let number = opened["number"].as_str().expect("number").to_string();
    let admin = app.admin();
    admin.save_form(&number, "request", json!({"product": "W-9", "problem": "Drains very slowly"})).await;
    admin.tick(&number, "Customer and product identified").await;
    admin.tick(&number, "Request confirmed with the customer").await;
    admin.transition(&number, "accept").await;
    admin.transition(&number, "ask_customer").await;

    let path = format!("/v1/tickets/{number}/customer-replies");
    let agent = app.agent("maryam@example.com").await;
    expect_problem(agent.post(&path, json!({"body": "I am the customer"})).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let gateway = app.integrator("whatsapp").await;
    let problem = expect_problem(
        gateway.post(&path, json!({"body": " "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(crate::helpers::error_fields(&problem), ["body"]);
    let ticket =
        expect_status(gateway.post(&path, json!({"body": "Photo of the filter sent."})).await, StatusCode::OK).await;
    assert_eq!(ticket["stage"], "review", "out of the waiting stage: {ticket:#?}");
    let replied = events(&app, &number).await.into_iter().find(|e| e["kind"] == "customer_replied").expect("the reply");
    assert_eq!(replied["body"], "Photo of the filter sent.");
    assert_eq!(replied["actor"], json!({"id": "whatsapp", "kind": "integrator"}));
    app.stop().await;
}
