/* SPDX-License-Identifier: MIT */
/*
 * reply - the SMTP reply table; see reply.h. One line per condition: code, enhanced
 * status code (RFC 3463 classes: x.1 address, x.3 system, x.4 network, x.5 protocol,
 * x.6 content, x.7 policy) and a short text.
 */
#include <stddef.h>

#include "reply.h"

static const char *const smtp_replies[SMTP_R_COUNT] = {
    [SMTP_R_NONE] = "",
    [SMTP_R_OK] = "250 2.0.0 Ok",
    [SMTP_R_MAIL_OK] = "250 2.1.0 Ok",
    [SMTP_R_RCPT_OK] = "250 2.1.5 Ok",
    [SMTP_R_DATA_GO] = "354 End data with <CR><LF>.<CR><LF>",
    [SMTP_R_BYE] = "221 2.0.0 Bye",
    [SMTP_R_VRFY] = "252 2.0.0 Cannot verify the user; send mail and delivery will be tried",
    [SMTP_R_HELP] =
        "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP XFORWARD",
    [SMTP_R_BUSY] = "421 4.3.2 Error: too many sessions, try again later",
    [SMTP_R_SHUTDOWN] = "421 4.3.2 Error: service shutting down",
    [SMTP_R_TIMEOUT] = "421 4.4.2 Error: timeout exceeded",
    [SMTP_R_TOO_MANY_ERR] = "421 4.7.0 Error: too many errors",
    [SMTP_R_PIPE_FULL] = "421 4.7.0 Error: too much input sent ahead of replies",
    [SMTP_R_LOCAL_ERROR] = "451 4.3.0 Error: local error, try again later",
    [SMTP_R_TOO_MANY_RCPT] = "452 4.5.3 Error: too many recipients",
    [SMTP_R_UNKNOWN_CMD] = "500 5.5.1 Error: command not recognized",
    [SMTP_R_LINE_TOO_LONG] = "500 5.5.2 Error: line too long",
    [SMTP_R_BAD_CHAR] = "500 5.5.2 Error: control character in command",
    [SMTP_R_SYNTAX] = "501 5.5.4 Syntax error in parameters or arguments",
    [SMTP_R_SYNTAX_HELO] = "501 5.5.4 Syntax: EHLO hostname",
    [SMTP_R_SYNTAX_MAIL] = "501 5.5.4 Syntax: MAIL FROM:<address>",
    [SMTP_R_SYNTAX_RCPT] = "501 5.5.4 Syntax: RCPT TO:<address>",
    [SMTP_R_SYNTAX_VRFY] = "501 5.5.4 Syntax: VRFY address",
    [SMTP_R_BAD_SENDER] = "501 5.1.7 Bad sender address syntax",
    [SMTP_R_BAD_RCPT] = "501 5.1.3 Bad recipient address syntax",
    [SMTP_R_BAD_PARAM] = "501 5.5.4 Bad parameter syntax",
    [SMTP_R_BAD_SIZE] = "501 5.5.4 Bad SIZE parameter",
    [SMTP_R_BAD_BODY] = "501 5.5.4 Bad BODY parameter",
    [SMTP_R_BAD_RET] = "501 5.5.4 Bad RET parameter",
    [SMTP_R_BAD_ENVID] = "501 5.5.4 Bad ENVID parameter",
    [SMTP_R_BAD_NOTIFY] = "501 5.5.4 Bad NOTIFY parameter",
    [SMTP_R_BAD_ORCPT] = "501 5.5.4 Bad ORCPT parameter",
    [SMTP_R_NEED_HELO] = "503 5.5.1 Error: send HELO/EHLO first",
    [SMTP_R_NESTED_MAIL] = "503 5.5.1 Error: nested MAIL command",
    [SMTP_R_NEED_MAIL] = "503 5.5.1 Error: need MAIL command",
    [SMTP_R_NEED_RCPT] = "503 5.5.1 Error: no valid recipients",
    [SMTP_R_UNKNOWN_PARAM] = "555 5.5.4 Unsupported option",
    [SMTP_R_NEED_UTF8] = "553 5.6.7 Must declare SMTPUTF8 to send a non-ASCII address",
    [SMTP_R_SIZE_EXCEEDED] = "552 5.3.4 Error: message size exceeds fixed limit",
    [SMTP_R_HDR_EXCEEDED] = "552 5.3.4 Error: message header section exceeds fixed limit",
    [SMTP_R_BARE_LF] = "550 5.5.2 Error: bare <LF> or <CR> received in message",
    [SMTP_R_XF_DENIED] = "550 5.7.0 Error: insufficient authorization",
    [SMTP_R_XF_IN_TXN] = "503 5.5.1 Error: MAIL transaction in progress",
    [SMTP_R_XF_SYNTAX] = "501 5.5.4 Syntax: XFORWARD attribute=value...",
    [SMTP_R_XF_BAD_NAME] = "501 5.5.4 Bad XFORWARD attribute name",
    [SMTP_R_XF_BAD_VALUE] = "501 5.5.4 Bad XFORWARD attribute value",
};

const char *
smtp_reply_text(enum smtp_reply r)
{
    if ((unsigned)r >= SMTP_R_COUNT || !smtp_replies[r])
        return "";
    return smtp_replies[r];
}

int
smtp_reply_code(enum smtp_reply r)
{
    const char *t = smtp_reply_text(r);
    if (!t[0])
        return 0;
    return (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
}
