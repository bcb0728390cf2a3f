/*
 * apitokend: delivery of the notification outbox over SMTP (libcurl).
 *
 * The store writes a notice into its outbox in the same transaction as the
 * change it announces; this module, running in apitokend, turns queued
 * notices into mail, removes a notice only after the relay accepted it,
 * retries failures with backoff, and queues expiry reminders.
 * Without mail.relay configured nothing is sent and notices stay queued.
 */
#ifndef APITOKEND_MAIL_H
#define APITOKEND_MAIL_H

#include <stdio.h>

#include <apitoken/config.h>
#include <apitoken/store.h>

typedef struct apitokend_mail apitokend_mail_t;

/*
 * Start the delivery thread.  store and cfg must outlive it.  0 or a
 * negative APITOKEN_ERR_* (bad mail settings: APITOKEN_ERR_CONFIG with a
 * detail naming the key).
 */
int apitokend_mail_start(apitoken_store_t *store, const apitoken_config_t *cfg,
                         apitokend_mail_t **mail_out);

/* Something was queued: deliver soon instead of at the next poll. */
void apitokend_mail_kick(apitokend_mail_t *mail);

/*
 * Take the mail keys of a reloaded configuration (cfg must outlive the
 * module).  Checked first: on an error nothing changes and the old keys
 * stay in use.  The mail thread adopts them before its next poll.
 */
int apitokend_mail_reconfigure(apitokend_mail_t *mail,
                               const apitoken_config_t *cfg);

/* Stop the thread (finishing the message in flight) and free. */
void apitokend_mail_stop(apitokend_mail_t *mail);

/* Append this module's Prometheus metrics (counters of sent, failed and
 * queued messages) to out. */
void apitokend_mail_write_metrics(apitokend_mail_t *mail, FILE *out);

#endif /* APITOKEND_MAIL_H */
