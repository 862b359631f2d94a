/*
 * HTTP to the CrowdSec Local API (libcurl).
 *
 * Short timeouts on purpose: the helper's other work (the state file,
 * the drop sets) must never wait on a LAPI that is down, so a request
 * either finishes within LAPI_TIMEOUT_MS or fails.  TLS peers are
 * verified (libcurl's default, set explicitly so no build can drop it),
 * redirects are not followed, only http and https are spoken, and no
 * proxy from the environment is used: the API key goes to the configured
 * URL and nowhere else.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lapi.h"
#include "version.h"

struct buf {
	char *p;
	size_t len, cap;
	bool too_big;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *q;

	if (n > LAPI_RESP_MAX - b->len) {
		b->too_big = true;
		return 0;	/* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int once(void)
{
	static bool done;
	static CURLcode rc;

	if (!done) {
		rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		done = true;
	}
	return rc == CURLE_OK ? 0 : -ENOMEM;
}

static int map_error(CURLcode rc, const struct buf *b)
{
	if (b->too_big)
		return -EFBIG;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int lapi_request(const char *method, const char *base, const char *path,
		 const char *hdr, const char *body, long *status, char **resp,
		 size_t *len, char *err, size_t errlen)
{
	char url[1024], ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL, *h2;
	struct buf b = { 0 };
	CURL *c = NULL;
	CURLcode rc;
	int ret = -ENOMEM;

	*status = 0;
	*resp = NULL;
	*len = 0;
	if (once() != 0)
		goto out;
	if (snprintf(url, sizeof(url), "%s%s", base, path) >=
	    (int)sizeof(url)) {
		ret = -ENAMETOOLONG;
		snprintf(err, errlen, "URL too long");
		goto out;
	}
	c = curl_easy_init();
	if (!c)
		goto out;
	h = curl_slist_append(NULL, "Accept: application/json");
	if (h && body && (h2 = curl_slist_append(h, "Content-Type: "
						 "application/json")))
		h = h2;
	if (h && hdr && (h2 = curl_slist_append(h, hdr)))
		h = h2;
	if (!h)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)LAPI_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)LAPI_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)LAPI_RESP_MAX);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	/* LAPI 1.4.6 reads a version from "NAME/VERSION" at login and
	 * answers 401 "incorrect Username or Password" when there is no
	 * slash: keep this shape. */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pam_vpsguard/" VG_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		ret = map_error(rc, &b);
		if (ret == -EFBIG)
			snprintf(err, errlen, "answer larger than %u bytes",
				 LAPI_RESP_MAX);
		else
			snprintf(err, errlen, "%s", ebuf[0] ? ebuf :
				 curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	*resp = b.p ? b.p : strdup("");
	*len = b.len;
	b.p = NULL;
	ret = *resp ? 0 : -ENOMEM;
out:
	free(b.p);
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	return ret;
}
