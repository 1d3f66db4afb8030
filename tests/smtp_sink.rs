//! Tests of the SMTP sink test harness (`tests/support/smtp.rs`): mail sent with lettre to a real SMTP
//! server on 127.0.0.1 comes back intact, and outages, transient failures and AUTH behave as expected.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use support::smtp::{SinkOptions, SmtpSink};

/// Longest to wait for mail: generous, for a loaded machine; a test that passes returns at once.
const WAIT: Duration = Duration::from_secs(60);

fn transport(sink: &SmtpSink) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .timeout(Some(Duration::from_secs(60)))
        .build()
}

fn simple(subject: &str) -> Message {
    Message::builder()
        .from("support@afterdesk.test".parse().expect("from"))
        .to("customer@example.test".parse().expect("to"))
        .subject(subject)
        .body(String::from("hello"))
        .expect("a message")
}

#[tokio::test]
async fn a_persian_multipart_reply_arrives_intact() {
    let sink = SmtpSink::start();
    let text = "سلام،\nدرخواست شما ثبت شد.";
    let html = "<p dir=\"rtl\">درخواست شما ثبت شد.</p>";
    let message = Message::builder()
        .from(Mailbox::new(Some("پشتیبانی افتردسک".into()), "support@afterdesk.test".parse().expect("address")))
        .to("مشتری <customer@example.test>".parse().expect("to"))
        .to("second@example.test".parse().expect("to"))
        .subject("درخواست شما")
        .message_id(Some("<reply-1@afterdesk.test>".into()))
        .in_reply_to("<question-1@example.test>".into())
        .references("<ticket-1@afterdesk.test> <question-1@example.test>".into())
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text.to_string()))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.to_string())),
        )
        .expect("a message");
    transport(&sink).send(message).await.expect("send");

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.envelope_from, "support@afterdesk.test");
    assert_eq!(mail.envelope_to, ["customer@example.test", "second@example.test"]);
    assert_eq!(mail.subject, "درخواست شما");
    assert_eq!(mail.header("subject"), Some("درخواست شما"));
    assert_eq!(mail.message_id.as_deref(), Some("reply-1@afterdesk.test"));
    assert_eq!(mail.in_reply_to.as_deref(), Some("question-1@example.test"));
    assert_eq!(mail.references, ["ticket-1@afterdesk.test", "question-1@example.test"]);
    assert_eq!(mail.header("Message-ID"), Some("<reply-1@afterdesk.test>"));
    assert_eq!(mail.from, "support@afterdesk.test");
    assert_eq!(mail.to, ["customer@example.test", "second@example.test"]);
    assert_eq!(mail.text.as_deref().map(|t| t.replace("\r\n", "\n")).as_deref(), Some(text));
    assert_eq!(mail.html.as_deref().map(str::trim_end), Some(html));
    assert!(mail.header("Date").is_some(), "{:?}", mail.headers);
    assert!(mail.raw.starts_with(b"From: ") || mail.raw_text().contains("\r\nFrom: "), "{}", mail.raw_text());
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_text_only_message_has_no_html_and_custom_headers_are_decoded() {
    let sink = SmtpSink::start();
    let mut message = simple("x");
    message.headers_mut().insert_raw(lettre::message::header::HeaderValue::new(
        lettre::message::header::HeaderName::new_from_ascii_str("X-Afterdesk-Ticket"),
        "شماره ۴۲".to_string(),
    ));
    transport(&sink).send(message).await.expect("send");
    let mail = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail.text.as_deref().map(str::trim_end), Some("hello"));
    assert_eq!(mail.html, None);
    assert_eq!(mail.header("x-afterdesk-ticket"), Some("شماره ۴۲"), "{}", mail.raw_text());
    assert_eq!(mail.in_reply_to, None);
    assert!(mail.references.is_empty());
}

#[tokio::test]
async fn sending_fails_while_stopped_and_works_after_a_restart_on_the_same_port() {
    let mut sink = SmtpSink::start();
    let port = sink.port();
    let mailer = transport(&sink);
    mailer.send(simple("first")).await.expect("send before the outage");
    sink.wait_for(1, WAIT).await;

    sink.stop();
    assert!(!sink.is_running());
    mailer.send(simple("lost")).await.expect_err("nothing listens while stopped");
    assert_eq!(sink.messages().len(), 1, "earlier mail stays readable while stopped");

    sink.restart();
    assert_eq!(sink.port(), port);
    mailer.send(simple("second")).await.expect("send after the restart");
    let mails = sink.wait_for(2, WAIT).await;
    let subjects: Vec<&str> = mails.iter().map(|mail| mail.subject.as_str()).collect();
    assert_eq!(subjects, ["first", "second"]);

    // Restarting a running sink works too, and the counter continues after the existing files.
    sink.restart();
    transport(&sink).send(simple("third")).await.expect("send after the second restart");
    let subjects: Vec<String> = sink.wait_for(3, WAIT).await.into_iter().map(|mail| mail.subject).collect();
    assert_eq!(subjects, ["first", "second", "third"]);
}

#[tokio::test]
async fn fail_first_answers_a_transient_error_then_accepts() {
    let sink = SmtpSink::start_with(SinkOptions { fail_first: 1, ..SinkOptions::default() });
    let mailer = transport(&sink);
    let error = mailer.send(simple("retried")).await.expect_err("the first message is refused");
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.status().map(|code| code.to_string()).as_deref(), Some("451"), "{error:?}");
    assert!(sink.messages().is_empty());
    mailer.send(simple("retried")).await.expect("the second attempt is accepted");
    assert_eq!(sink.wait_for(1, WAIT).await[0].subject, "retried");
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let options =
        SinkOptions { auth: Some(("afterdesk".into(), "s3cret:with colon".into())), ..SinkOptions::default() };
    let sink = SmtpSink::start_with(options);
    let with = |credentials: Option<Credentials>| {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(sink.port());
        match credentials {
            Some(credentials) => builder.credentials(credentials).build(),
            None => builder.build(),
        }
    };
    let error = with(None).send(simple("anonymous")).await.expect_err("AUTH is required");
    assert!(error.is_permanent(), "{error:?}");
    let error = with(Some(Credentials::new("afterdesk".into(), "wrong".into())))
        .send(simple("bad password"))
        .await
        .expect_err("a wrong password is refused");
    assert!(error.is_permanent(), "{error:?}");
    with(Some(Credentials::new("afterdesk".into(), "s3cret:with colon".into())))
        .send(simple("authenticated"))
        .await
        .expect("the right password is accepted");
    let subjects: Vec<String> = sink.wait_for(1, WAIT).await.into_iter().map(|mail| mail.subject).collect();
    assert_eq!(subjects, ["authenticated"]);
}

#[test]
fn a_fixed_port_is_used_and_wait_for_blocking_works() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let sink = SmtpSink::start_with(SinkOptions { port: Some(free), ..SinkOptions::default() });
    assert_eq!(sink.port(), free);
    let mut smtp = std::net::TcpStream::connect(("127.0.0.1", free)).expect("connect");
    let mut reader = BufReader::new(smtp.try_clone().expect("clone"));
    let mut line = String::new();
    let mut expect = |reader: &mut BufReader<std::net::TcpStream>, code: &str| loop {
        line.clear();
        reader.read_line(&mut line).expect("read a reply");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect(&mut reader, "220");
    for (command, code) in [
        ("EHLO test\r\n", "250"),
        ("MAIL FROM:<پشتیبانی@example.test> SMTPUTF8 BODY=8BITMIME\r\n", "250"),
        ("RCPT TO:<b@example.test>\r\n", "250"),
        ("DATA\r\n", "354"),
        ("Subject: درخواست شما\r\n\r\n..dot-stuffed\r\n.\r\n", "250"),
        ("QUIT\r\n", "221"),
    ] {
        smtp.write_all(command.as_bytes()).expect("write");
        expect(&mut reader, code);
    }
    let mails = sink.wait_for_blocking(1, WAIT);
    assert_eq!(mails[0].raw, "Subject: درخواست شما\r\n\r\n.dot-stuffed\r\n".as_bytes());
    assert_eq!(mails[0].subject, "درخواست شما");
    assert_eq!(mails[0].envelope_from, "پشتیبانی@example.test");
}

#[test]
#[should_panic(expected = "expected at least 1 message(s)")]
fn wait_for_blocking_panics_with_what_arrived() {
    let sink = SmtpSink::start();
    sink.wait_for_blocking(1, Duration::from_millis(200));
}
