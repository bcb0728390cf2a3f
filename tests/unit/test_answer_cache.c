/*
 * Unit tests for introspect/answer_cache.c: a kept answer is given only
 * for the same token and client and generation, with no store failure
 * since, and before exp; retiring a token, a user, a client or all drops
 * exactly their answers; a full set makes room, for a newcomer asked for
 * twice in a row, in place of its least used answer; an answer read
 * before a retirement is not kept.
 */
#include "config.h"

#include <string.h>

#include <check.h>
#include <microhttpd.h>

#include <apitoken/config.h>

#include "../../introspect/answer_cache.h"
#include "unit.h"

static struct apitokend_answers *a;
static uint8_t hash_a[APITOKEN_HASH_LEN], hash_b[APITOKEN_HASH_LEN];
static int gen1, gen2;

struct seen {
	struct MHD_Response *resp;
	char jti[APITOKEN_ID_LEN + 1];
	int calls;
};

static void
record(struct MHD_Response *resp, const char *jti, bool first_use,
       const char *body, size_t body_len, void *arg)
{
	(void)first_use;
	(void)body;
	(void)body_len;
	struct seen *s = arg;

	s->resp = resp;
	strcpy(s->jti, jti);
	s->calls++;
}

static struct MHD_Response *
response(const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);

	ck_assert_ptr_nonnull(r);
	return r;
}

static struct apitokend_answer_key
key(const uint8_t *hash, const char *client, const void *gen, uint64_t rgen,
    unsigned long failures)
{
	struct apitokend_answer_key k = {hash, client, gen, rgen, failures};

	return k;
}

/* What use() finds for k at now: the response, or NULL. */
static struct MHD_Response *
find(const struct apitokend_answer_key *k, int64_t now, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	if (!apitokend_answers_use(a, k, now, record, s))
		return NULL;
	ck_assert_int_eq(s->calls, 1);
	return s->resp;
}

static void
setup(void)
{
	memset(hash_a, 0xa5, sizeof(hash_a));
	memset(hash_b, 0xa5, sizeof(hash_b));
	hash_b[31] = 0x5a; /* same set (first bytes), another token */
	a = apitokend_answers_create(8);
	ck_assert_ptr_nonnull(a);
}

static void
teardown(void)
{
	apitokend_answers_destroy(a);
	a = NULL;
}

START_TEST(test_off)
{
	struct apitokend_answer_key k = key(hash_a, "rs1", &gen1, 1, 0);
	struct seen s;

	ck_assert_ptr_null(apitokend_answers_create(0));
	/* NULL: nothing kept, the reference is dropped. */
	apitokend_answers_put(NULL, &k, 100, "jti", "alice", response("x"),
	                      NULL, 0);
	ck_assert(!apitokend_answers_use(NULL, &k, 10, record, &s));
}
END_TEST

START_TEST(test_same_question_only)
{
	struct apitokend_answer_key k = key(hash_a, "rs1", &gen1, 0, 2), o;
	struct MHD_Response *r = response("{\"active\":true}");
	struct seen s;

	ck_assert_ptr_null(find(&k, 10, &s));
	apitokend_answers_put(a, &k, 100, "AbCdEfGhIjKlMnOp", "alice", r, NULL,
	                      0);
	ck_assert_ptr_eq(find(&k, 10, &s), r);
	ck_assert_str_eq(s.jti, "AbCdEfGhIjKlMnOp");
	ck_assert_ptr_eq(find(&k, 99, &s), r);

	ck_assert_ptr_null(find(&k, 100, &s)); /* now >= exp */
	o = key(hash_b, "rs1", &gen1, 0, 2);
	ck_assert_ptr_null(find(&o, 10, &s)); /* another token */
	o = key(hash_a, "rs2", &gen1, 0, 2);
	ck_assert_ptr_null(find(&o, 10, &s)); /* another client */
	o = key(hash_a, "rs1", &gen2, 0, 2);
	ck_assert_ptr_null(find(&o, 10, &s)); /* configuration reloaded */
	o = key(hash_a, "rs1", &gen1, 0, 3);
	ck_assert_ptr_null(find(&o, 10, &s));  /* a store failure since */
	ck_assert_ptr_eq(find(&k, 10, &s), r); /* still there for k */
}
END_TEST

/* Put an answer for (hash, client) of user, read at the current rgen. */
static struct MHD_Response *
put(const uint8_t *hash, const char *client, const char *user)
{
	struct apitokend_answer_key k =
	    key(hash, client, &gen1, apitokend_answers_rgen(a), 0);
	struct MHD_Response *r = response("{\"active\":true}");

	apitokend_answers_put(a, &k, 100, "jti", user, r, NULL, 0);
	return r;
}

static bool
kept(const uint8_t *hash, const char *client, struct MHD_Response *r)
{
	struct apitokend_answer_key k = key(hash, client, &gen1, 0, 0);
	struct seen s;

	return find(&k, 10, &s) == r;
}

START_TEST(test_retire_what_changed)
{
	struct MHD_Response *ra, *rb, *ra2;

	/* Two tokens of two users; alice's asked by two clients. */
	ra = put(hash_a, "rs1", "alice");
	ra2 = put(hash_a, "rs2", "alice");
	rb = put(hash_b, "rs1", "bob");
	ck_assert(kept(hash_a, "rs1", ra) && kept(hash_b, "rs1", rb));
	/* Another user's change (a user name in another bucket). */
	apitokend_answers_retire_user(a, "carol", 5);
	ck_assert(kept(hash_a, "rs1", ra) && kept(hash_b, "rs1", rb));
	/* alice's change: only her answers. */
	apitokend_answers_retire_user(a, "alice", 5);
	ck_assert(!kept(hash_a, "rs1", ra) && !kept(hash_a, "rs2", ra2));
	ck_assert(kept(hash_b, "rs1", rb));
	/* Read again after the change: kept again. */
	ra = put(hash_a, "rs1", "alice");
	ck_assert(kept(hash_a, "rs1", ra));
	/* A token: its answers only, for every client. */
	ra2 = put(hash_a, "rs2", "alice");
	apitokend_answers_retire_token(a, hash_b);
	ck_assert(!kept(hash_b, "rs1", rb));
	ck_assert(kept(hash_a, "rs1", ra) && kept(hash_a, "rs2", ra2));
	apitokend_answers_retire_token(a, hash_a);
	ck_assert(!kept(hash_a, "rs1", ra) && !kept(hash_a, "rs2", ra2));
	/* A client: what it was told, not what others were. */
	ra = put(hash_a, "rs1", "alice");
	ra2 = put(hash_a, "rs2", "alice");
	apitokend_answers_retire_client(a, "rs2", 3);
	ck_assert(kept(hash_a, "rs1", ra) && !kept(hash_a, "rs2", ra2));
	apitokend_answers_retire_all(a);
	ck_assert(!kept(hash_a, "rs1", ra));
}
END_TEST

START_TEST(test_put_after_retire_dropped)
{
	struct apitokend_answer_key k =
	    key(hash_a, "rs1", &gen1, apitokend_answers_rgen(a), 0);
	struct seen s;

	/* Read, then a change to a token of the same set is retired
	 * before the answer is put: it may predate it, so it is not kept.
	 * (Its own token's retirement found nothing to drop yet.) */
	apitokend_answers_retire_token(a, hash_a);
	apitokend_answers_put(a, &k, 100, "jti", "alice",
	                      response("{\"active\":true}"), NULL, 0);
	ck_assert_ptr_null(find(&k, 10, &s));
	/* The same for a user change. */
	k.rgen = apitokend_answers_rgen(a);
	apitokend_answers_retire_user(a, "alice", 5);
	apitokend_answers_put(a, &k, 100, "jti", "alice",
	                      response("{\"active\":true}"), NULL, 0);
	ck_assert_ptr_null(find(&k, 10, &s));
	/* With nothing retired in between it is kept. */
	k.rgen = apitokend_answers_rgen(a);
	apitokend_answers_put(a, &k, 100, "jti", "alice",
	                      response("{\"active\":true}"), NULL, 0);
	ck_assert_ptr_nonnull(find(&k, 10, &s));
}
END_TEST

START_TEST(test_replace_and_room)
{
	uint8_t h[10][APITOKEN_HASH_LEN];
	struct apitokend_answer_key k[10], k1;
	struct MHD_Response *r[10], *newer;
	struct seen s;
	int i, kept = 0;

	/* Ten tokens in one set of eight (a table of 8 is one set): eight
	 * are found, the one put last among them. */
	for (i = 0; i < 10; i++) {
		memcpy(h[i], hash_a, sizeof(h[i]));
		h[i][20] = (uint8_t)i;
		k[i] = key(h[i], "rs1", &gen1, 0, 0);
		r[i] = response("{\"active\":true}");
		apitokend_answers_put(a, &k[i], 100, "jti", "alice", r[i],
		                      NULL, 0);
	}
	for (i = 0; i < 10; i++)
		if (find(&k[i], 10, &s) == r[i])
			kept++;
	ck_assert_int_eq(kept, 8);
	ck_assert_ptr_eq(find(&k[9], 10, &s), r[9]);

	/* Same question after a retirement: replaced in place, and an
	 * answer read before the retirement does not overwrite it. */
	apitokend_answers_retire_user(a, "nobody", 6);
	k1 = key(h[9], "rs1", &gen1, apitokend_answers_rgen(a), 0);
	newer = response("{\"active\":true,\"role\":\"admin\"}");
	apitokend_answers_put(a, &k1, 100, "jti2", "alice", newer, NULL, 0);
	ck_assert_ptr_eq(find(&k1, 10, &s), newer);
	apitokend_answers_put(a, &k[9], 100, "jti", "alice", response("old"),
	                      NULL, 0);
	ck_assert_ptr_eq(find(&k1, 10, &s), newer);
	ck_assert_str_eq(s.jti, "jti2");
}
END_TEST

/*
 * n keys with distinct tags in one set (h and k get n entries), then eight
 * answers for the first eight, which fill the set; the first seven are
 * asked for `asks` times, the eighth never.
 */
static void
fill_one_set(uint8_t (*h)[APITOKEN_HASH_LEN], struct apitokend_answer_key *k,
             struct MHD_Response **r, int n, int asks)
{
	struct seen s;
	int i, j;

	for (i = 0; i < n; i++) {
		memcpy(h[i], hash_a, APITOKEN_HASH_LEN);
		h[i][9] = (uint8_t)(i + 1);
		k[i] = key(h[i], "rs1", &gen1, 0, 0);
	}
	for (i = 0; i < 8; i++) {
		r[i] = response("{\"active\":true}");
		apitokend_answers_put(a, &k[i], 100, "jti", "alice", r[i],
		                      NULL, 0);
	}
	for (j = 0; j < asks; j++)
		for (i = 0; i < 7; i++)
			ck_assert_ptr_eq(find(&k[i], 10, &s), r[i]);
}

/* Newcomers k[from] .. k[to - 1], each with an answer of its own. */
static void
put_newcomers(const struct apitokend_answer_key *k, int from, int to)
{
	int i;

	for (i = from; i < to; i++)
		apitokend_answers_put(a, &k[i], 100, "jti", "alice",
		                      response("x"), NULL, 0);
}

/* After fill_one_set(): a newcomer put at k[n] is kept in place of the
 * unused eighth answer, and the seven asked-for answers stay. */
static void
check_replaces_unused(const struct apitokend_answer_key *k,
                      struct MHD_Response **r, int n)
{
	struct seen s;
	int i;

	r[n] = response("{\"active\":true}");
	apitokend_answers_put(a, &k[n], 100, "jti", "alice", r[n], NULL, 0);
	ck_assert_ptr_eq(find(&k[n], 10, &s), r[n]);
	ck_assert_ptr_null(find(&k[7], 10, &s));
	for (i = 0; i < 7; i++)
		ck_assert_ptr_eq(find(&k[i], 10, &s), r[i]);
}

START_TEST(test_admission)
{
	uint8_t h[14][APITOKEN_HASH_LEN];
	struct apitokend_answer_key k[14];
	struct MHD_Response *r[14];
	struct seen s;
	int i;

	fill_one_set(h, k, r, 14, 3);
	/* A newcomer seen once is not let in; nor one whose refusal was
	 * followed by four others'. */
	apitokend_answers_put(a, &k[8], 100, "jti", "alice", response("8"),
	                      NULL, 0);
	ck_assert_ptr_null(find(&k[8], 10, &s));
	put_newcomers(k, 9, 13);
	apitokend_answers_put(a, &k[8], 100, "jti", "alice", response("8"),
	                      NULL, 0);
	ck_assert_ptr_null(find(&k[8], 10, &s));
	for (i = 9; i < 13; i++)
		ck_assert_ptr_null(find(&k[i], 10, &s));
	/* Asked again after three others: in, in place of the unused
	 * answer. */
	put_newcomers(k, 9, 12);
	check_replaces_unused(k, r, 8);
}
END_TEST

/* An answer nobody asked for again while 16 others missed in its set gives
 * way to the next newcomer, filter or not; asked-for ones stay. */
START_TEST(test_unasked_gives_way)
{
	uint8_t h[25][APITOKEN_HASH_LEN];
	struct apitokend_answer_key k[25];
	struct MHD_Response *r[25];
	struct seen s;
	int i;

	fill_one_set(h, k, r, 25, 1);
	/* Sixteen one-off newcomers: all refused (none takes a way). */
	for (i = 8; i < 24; i++) {
		put_newcomers(k, i, i + 1);
		ck_assert_ptr_null(find(&k[i], 10, &s));
	}
	/* The seventeenth, seen once, takes the unasked way. */
	check_replaces_unused(k, r, 24);
}
END_TEST

/*
 * introspection_cache "auto": twice the active tokens in a power of two,
 * never under 65536 or over the maximum, halved while the table and the
 * kept answers would take more than an eighth of the memory.
 */
START_TEST(test_auto_entries)
{
	const uint64_t gib = 1ULL << 30;
	size_t n;

	ck_assert_uint_eq(apitokend_answers_auto_entries(0, 16 * gib), 65536);
	ck_assert_uint_eq(apitokend_answers_auto_entries(10000, 16 * gib),
	                  65536);
	ck_assert_uint_eq(apitokend_answers_auto_entries(40000, 16 * gib),
	                  131072);
	ck_assert_uint_eq(apitokend_answers_auto_entries(1000000, 16 * gib),
	                  2097152);
	ck_assert_uint_eq(apitokend_answers_auto_entries(50000000, 64 * gib),
	                  APITOKEN_INTROSPECTION_CACHE_MAX);
	/* 1M tokens on 2 GiB: what fits in 256 MiB. */
	n = apitokend_answers_auto_entries(1000000, 2 * gib);
	ck_assert_uint_lt(n, 2097152);
	ck_assert_uint_ge(n, 65536);
	ck_assert_uint_le(n * 1024, 256ULL << 20);
	/* Never under the old default, whatever the memory. */
	ck_assert_uint_eq(apitokend_answers_auto_entries(1000000, 1 << 20),
	                  65536);
	/* The table has at least the places asked for. */
	apitokend_answers_destroy(a);
	a = apitokend_answers_create(131072);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(apitokend_answers_places(a), 131072);
	ck_assert_uint_eq(apitokend_answers_places(NULL), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("answer_cache");
	TCase *tc = tcase_create("answer_cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_same_question_only);
	tcase_add_test(tc, test_replace_and_room);
	tcase_add_test(tc, test_admission);
	tcase_add_test(tc, test_unasked_gives_way);
	tcase_add_test(tc, test_retire_what_changed);
	tcase_add_test(tc, test_put_after_retire_dropped);
	tcase_add_test(tc, test_auto_entries);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
