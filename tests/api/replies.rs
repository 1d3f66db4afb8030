//! Conversations, the outgoing half (issue 13 §1): an agent's public reply reaches the customer
//! by mail with its text, in the ticket's thread; an internal note never does; and a rule that
//! names the customer and staff together (`informed`) sends each their own template.
//!
//! Through the real server and a real SMTP server (aiosmtpd); every wait polls up to
//! [`WAIT`].

use serde_json::{Value, json};

use crate::helpers::{TestApp, new_ticket};
use crate::mail::{WAIT, app_with_mail, outbox, wait_outbox};
use crate::smtp::{Mail, SmtpSink};

const CUSTOMER: &str = "sam@customer.test";

/// Every outbox message in any state, as JSON text (to search for what must not be there).
async fn every_message(app: &TestApp) -> Vec<String> {
    let mut all = Vec::new();
    for state in ["pending", "sent", "dead"] {
        all.extend(outbox(app, state).await.iter().map(Value::to_string));
    }
    all
}

/// The mail to `to` whose subject contains `subject`.
fn mail_to<'m>(mails: &'m [Mail], to: &str, subject: &str) -> &'m Mail {
    mails.iter().find(|m| m.envelope_to.iter().any(|t| t == to) && m.subject.contains(subject)).unwrap_or_else(|| {
        panic!(
            "no mail to {to} about \"{subject}\": {:#?}",
            mails.iter().map(|m| (&m.envelope_to, &m.subject)).collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn a_public_reply_reaches_the_customer_in_the_ticket_thread() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let ticket = app.admin().open(new_ticket("Washer stops mid-cycle", CUSTOMER)).await;
    let (t, id) = (ticket["number"].as_str().expect("number"), ticket["id"].as_str().expect("id"));
    let reply = "Hello Sam,\n\nthe new pump arrives on Monday; our technician will call you first.";
    app.admin().command(t, "comments", json!({ "body": reply, "public": true })).await;

    // The receipt and the reply.
    let mails = sink.wait_for(2, WAIT).await;
    let mail = mail_to(&mails, CUSTOMER, "Washer stops mid-cycle");
    let mail = if mail.subject.contains("We received") { &mails[1] } else { mail };
    assert_eq!(mail.envelope_to, [CUSTOMER], "to the customer only");
    assert!(mail.subject.contains(&format!("[{t}]")), "the ticket number in brackets: {}", mail.subject);
    let text = mail.text.as_deref().expect("a text part");
    assert!(text.contains("the new pump arrives on Monday; our technician will call you first."), "{text}");
    assert!(mail.html.as_deref().is_some_and(|h| h.contains("the new pump arrives on Monday")), "an HTML part too");

    // Threading: its own stable Message-ID, pointing at the ticket's thread root.
    let sent = wait_outbox(&app, "sent", "two sent", |m| m.len() == 2).await;
    let reply_id = sent.iter().find(|m| m["payload"].to_string().contains("public_reply")).expect("the reply's record");
    let message_id = format!("{}@afterdesk.test", reply_id["id"].as_str().expect("id"));
    assert_eq!(mail.message_id.as_deref(), Some(message_id.as_str()));
    let root = format!("ticket-{id}@afterdesk.test");
    assert_eq!(mail.in_reply_to.as_deref(), Some(root.as_str()));
    assert_eq!(mail.references, std::slice::from_ref(&root));
    // The customer answers to the desk, and a person's reply is not marked as generated.
    assert!(mail.header("Reply-To").is_some_and(|r| r.contains("desk@afterdesk.test")), "{:?}", mail.headers);
    assert_eq!(mail.header("Auto-Submitted"), None, "a person wrote it");

    // The receipt is generated mail to the customer: marked so, in the same thread.
    let receipt = mail_to(&mails, CUSTOMER, "We received your request");
    assert_eq!(receipt.header("Auto-Submitted"), Some("auto-generated"));
    assert!(receipt.header("Reply-To").is_some_and(|r| r.contains("desk@afterdesk.test")));
    assert_eq!(receipt.references, [root]);
    assert_ne!(receipt.message_id, mail.message_id);
    app.stop().await;
}

#[tokio::test]
async fn an_internal_note_sends_the_customer_nothing() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let ticket = app.admin().open(new_ticket("Oven door does not close", CUSTOMER)).await;
    let t = ticket["number"].as_str().expect("number");
    let note = "Customer sounds annoyed; the hinge was replaced last year under warranty.";
    app.admin().command(t, "comments", json!({ "body": note, "public": false })).await;
    // A public reply after it: once it arrives, anything the note had caused was queued before.
    app.admin().command(t, "comments", json!({ "body": "We are on it.", "public": true })).await;

    let mails = sink.wait_for(2, WAIT).await;
    wait_outbox(&app, "sent", "two sent", |m| m.len() == 2).await;
    assert_eq!(mails.len(), 2, "the receipt and the reply, nothing for the note");
    for mail in &mails {
        assert!(!mail.raw_text().contains("hinge was replaced"), "the note leaked: {}", mail.subject);
    }
    assert!(every_message(&app).await.iter().all(|m| !m.contains("hinge was replaced")), "no message carries the note");
    app.stop().await;
}

#[tokio::test]
async fn informed_customers_get_customer_mail_and_staff_get_staff_mail() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let ticket = app.admin().open(new_ticket("Dryer is loud", CUSTOMER)).await;
    let t = ticket["number"].as_str().expect("number");
    // Entering `resolution` mails `informed` (the customer and the support lead); resolving
    // mails the customer and the support lead too.
    app.admin().through_to_survey(t).await;

    // The receipt, two for the stage, two for the resolution.
    let mails = sink.wait_for(5, WAIT).await;
    let lead = "leila@example.com";
    let customer = mail_to(&mails, CUSTOMER, "now in");
    assert_eq!(customer.envelope_to, [CUSTOMER], "the customer's own message");
    let text = customer.text.as_deref().expect("text");
    assert!(text.contains("Response and resolution"), "the stage in words: {text}");
    let everything = customer.raw_text();
    assert!(!everything.contains("@example.com"), "no staff address: {text}");
    assert!(!everything.contains("/v1/"), "no API link: {text}");
    assert!(!text.contains("Priority"), "no priority: {text}");

    let staff = mail_to(&mails, lead, "now in");
    assert_eq!(staff.envelope_to, [lead], "staff have their own message");
    let staff_text = staff.text.as_deref().expect("text");
    assert!(staff_text.contains(&format!("/t/{t}")), "staff get the link: {staff_text}");
    assert!(staff_text.contains("Priority: normal"), "{staff_text}");
    assert!(staff.header("Reply-To").is_none(), "staff mail has no Reply-To");

    let resolved = mail_to(&mails, CUSTOMER, "Your request is resolved");
    assert_eq!(resolved.envelope_to, [CUSTOMER]);
    let staff_resolved = mail_to(&mails, lead, "Resolved:");
    assert!(!staff_resolved.raw_text().contains("Hello Customer"), "staff do not get the customer's wording");
    for mail in &mails {
        assert!(mail.subject.contains(&format!("[{t}]")), "{}", mail.subject);
    }
    app.stop().await;
}
