/*
 * apitoken: configuration sections parsed outside config.c (internal).
 */
#ifndef APITOKEN_CONFIG_INT_H
#define APITOKEN_CONFIG_INT_H

#include <cjson/cJSON.h>

#include <apitoken/config.h>

/*
 * Parse the "web" object of file path into *web_out (replacing nothing:
 * *web_out must be NULL).  0, or APITOKEN_ERR_CONFIG / _NOMEM with a
 * detail naming the file and the key; then *web_out stays NULL.
 */
int config_web_parse(const char *path, const cJSON *obj,
                     apitoken_web_config_t **web_out);
void config_web_free(apitoken_web_config_t *web);

#endif /* APITOKEN_CONFIG_INT_H */
