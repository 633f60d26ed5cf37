/* gen.c -- synthetic CRM and marketing events: a small business in four regions.
 *
 * Design. A discrete-event simulation driven by one priority queue (a binary
 * min-heap ordered by event time, then by insertion sequence so that equal
 * times keep a deterministic order):
 *   - Source processes (leads, orders, subscriptions started/cancelled,
 *     e-mails sent; one per region, 20 in all) are non-homogeneous Poisson
 *     processes whose rate is constant within each hour, sampled exactly (an
 *     Exp(1) draw spent across the hours, see proc_next). The rate is the base
 *     rate times an hour-of-week profile read in the region's local time
 *     (EMEA UTC+1, NA UTC-5, LATAM UTC-3, APAC UTC+8), so there are fewer
 *     events at night and at weekends, and the regions' days overlap. Each
 *     process keeps exactly one "tick" entry in the queue: its next event.
 *   - Future events are scheduled by earlier ones: a lead may get a deal that
 *     is won or lost after a sales cycle (lognormal, median 6-11 days by
 *     sales rep, then moved to the rep's next working moment); an e-mail may
 *     be clicked minutes to hours later. They wait in the same queue, which
 *     is capped (conf.max_pending): when it is full the new future event is
 *     dropped and counted. Events at or after the end are never queued, so the
 *     queue holds at most ~(deal rate x cycle length + click rate x delay).
 *   - Deals are in flight from the first minute: creation replays the 90 days
 *     before the start silently (only the draws a deal needs), queueing the
 *     outcomes that fall after the start. Their lead.created events are not
 *     emitted, so a pair metric (lead -> deal) only sees leads created after
 *     the start and reaches its steady state after about two sales cycles.
 *   - Why 6-11 days and not the 20-30 of a typical B2B funnel: the default run
 *     is four weeks, and a lead -> won duration can only be observed for leads
 *     created inside the run; with a 25-day cycle the sales-cycle metrics would
 *     still be warming up when the run ends.
 *   - Incidents are applied where they act in reality: the paid_search dry-up
 *     removes leads at creation; the EMEA dip lowers the win probability of
 *     EMEA deals decided during it; during the stretch week the deals due slip
 *     to 3x their duration and stale leads are closed out instead, so the
 *     deals closed that week took 3x as long (see schedule_deal; in the
 *     default 4-week run a pair metric only sees leads since the start, so
 *     its average rises ~1.8x, from ~9 to ~16 days); the cancellation burst
 *     multiplies that process's rate by 8.
 *
 * Rendering writes straight into the caller's pw_buf after one reserve of
 * PW_GEN_MAX_EVENT bytes. Every string comes from the static tables below,
 * which are valid UTF-8 without quotes, backslashes or control characters,
 * so no escaping is needed (the unit test parses every event to hold that).
 * Timestamps use a per-day cached "YYYY-MM-DDT" prefix; the result is the
 * same text as pw_time_format(). Nothing is allocated per event (the queue
 * grows by doubling to its high-water mark, then stays).
 *
 * Randomness: xoshiro256** seeded through splitmix64; normals by Box-Muller.
 * Output depends on libm's exp/log/cos, so it is identical for the same seed
 * on one platform, not necessarily across C libraries.
 *
 * Limits: one currency (EUR); customers are drawn from a pool without state,
 * so a subscription can be cancelled by a customer who never started one in
 * the run; lead ids referenced by e-mails are recent leads, not a consistent
 * mailing list; incident times are fixed offsets (see the table), they do not
 * scale with the run length; the start must be at least 90 days after the
 * epoch (the silent past); creation costs ~90 x leads_per_day draws, hence
 * the limit of 1e6 leads/day (~10 s of set-up there).
 */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

/* ------------------------------------------------------------------ tables */

enum { R_EMEA, R_NA, R_LATAM, R_APAC, NREGION };
static const char *const region_name[NREGION] = {"EMEA", "NA", "LATAM", "APAC"};
static const double region_w[NREGION] = {0.36, 0.34, 0.14, 0.16};
static const int region_utc_off_h[NREGION] = {1, -5, -3, 8};
static const double region_win_f[NREGION] = {1.0, 1.05, 0.9, 0.95};

enum { O_ORGANIC, O_PAID, O_SOCIAL, O_EMAIL, O_REFERRAL, O_DISPLAY, O_DIRECT, O_OTHER, NORIGIN };
#define ORIGIN_MISSING 0xff
#define ORIGIN_MISSING_P 0.01
static const char *const origin_name[NORIGIN] = {"organic_search", "paid_search", "social", "email",
                                                 "referral", "display", "direct_traffic", "other"};
static const double origin_w[NORIGIN] = {0.24, 0.22, 0.14, 0.11, 0.09, 0.08, 0.09, 0.03};
/* Probability that each contact field (name, email, phone, company) is
 * captured: lead quality = their sum, 0..4. */
static const double origin_contact_p[NORIGIN][4] = {
    {0.90, 0.85, 0.55, 0.65}, /* organic_search 2.95 */
    {0.85, 0.85, 0.50, 0.55}, /* paid_search    2.75 */
    {0.75, 0.65, 0.35, 0.45}, /* social         2.20 */
    {0.97, 0.99, 0.60, 0.75}, /* email          3.31 */
    {0.98, 0.95, 0.85, 0.90}, /* referral       3.68 */
    {0.70, 0.60, 0.35, 0.40}, /* display        2.05 */
    {0.90, 0.90, 0.65, 0.70}, /* direct_traffic 3.15 */
    {0.75, 0.70, 0.40, 0.50}, /* other          2.35 */
};
/* A lead reaches a decision (deal.won or deal.lost) with p_deal; a decided
 * deal is won with p_win x region x rep factors. Lead -> won conversion is
 * about p_deal x p_win: organic .22, paid .19, social .11, email .22,
 * referral .35, display .07, direct .26, other .12; overall ~.20. */
static const double origin_p_deal[NORIGIN] = {0.45, 0.42, 0.30, 0.45, 0.60, 0.22, 0.50, 0.30};
static const double origin_p_win[NORIGIN] = {0.50, 0.45, 0.38, 0.48, 0.58, 0.32, 0.52, 0.40};

enum {
    C_BLACK_FRIDAY, C_CYBER_MONDAY, C_WINTER_NEWS, C_GTX_LAUNCH, C_ONBOARDING, C_REACTIVATION,
    C_BRAND_SEARCH, C_GENERIC_SEARCH, C_SOCIAL_RETARGET, C_PARTNER, C_SEO, C_DISPLAY, C_NONE, NCAMPAIGN
};
static const char *const campaign_name[NCAMPAIGN] = {
    "black_friday_2026", "cyber_monday_2026", "winter_newsletter", "gtx_pro_launch",
    "onboarding_drip", "reactivation", "brand_search", "generic_search",
    "social_retargeting", "partner_program", "seo_content", "display_awareness", "none"};
#define NEMAIL_CAMPAIGN 6 /* the first six campaigns send e-mails */
static const double email_campaign_w[NEMAIL_CAMPAIGN] = {0.25, 0.10, 0.25, 0.15, 0.15, 0.10};
static const double email_campaign_ctr[NEMAIL_CAMPAIGN] = {0.065, 0.055, 0.030, 0.048, 0.080, 0.025};
static const char *const campaign_link[NEMAIL_CAMPAIGN] = {
    "https://shop.example.com/black-friday", "https://shop.example.com/cyber-monday",
    "https://shop.example.com/blog/winter", "https://shop.example.com/gtx-pro",
    "https://shop.example.com/start", "https://shop.example.com/welcome-back"};

typedef struct { unsigned char c; double w; } camp_w;
static const camp_w origin_campaigns[NORIGIN][4] = {
    {{C_SEO, 0.7}, {C_GTX_LAUNCH, 0.3}},
    {{C_BRAND_SEARCH, 0.45}, {C_GENERIC_SEARCH, 0.35}, {C_BLACK_FRIDAY, 0.2}},
    {{C_SOCIAL_RETARGET, 0.6}, {C_BLACK_FRIDAY, 0.25}, {C_GTX_LAUNCH, 0.15}},
    {{C_WINTER_NEWS, 0.35}, {C_BLACK_FRIDAY, 0.3}, {C_GTX_LAUNCH, 0.15}, {C_REACTIVATION, 0.2}},
    {{C_PARTNER, 1.0}},
    {{C_DISPLAY, 0.7}, {C_BLACK_FRIDAY, 0.3}},
    {{C_NONE, 1.0}},
    {{C_NONE, 0.6}, {C_PARTNER, 0.4}},
};

static const char *const landing_page[] = {
    "lp-home", "lp-pricing", "lp-gtx-pro", "lp-mg-special", "lp-demo-request",
    "lp-webinar-q4", "lp-blog-crm-tips", "lp-contact-sales"};
#define NLANDING (sizeof landing_page / sizeof landing_page[0])

typedef struct { const char *shown, *ascii; } name_pair;
static const name_pair first_names[] = {
    {"Anna", "anna"}, {"Jos\xc3\xa9", "jose"}, {"Zo\xc3\xab", "zoe"}, {"S\xc3\xb8ren", "soren"},
    {"\xc5\x81ukasz", "lukasz"}, {"Maria", "maria"}, {"Wei", "wei"}, {"Aiko", "aiko"},
    {"Liam", "liam"}, {"Olivia", "olivia"}, {"Noah", "noah"}, {"Emma", "emma"},
    {"Mateo", "mateo"}, {"Sof\xc3\xad" "a", "sofia"}, {"Lucas", "lucas"}, {"Chlo\xc3\xa9", "chloe"},
    {"Priya", "priya"}, {"Arjun", "arjun"}, {"Fatima", "fatima"}, {"Omar", "omar"},
    {"Hannah", "hannah"}, {"Jonas", "jonas"}, {"Elena", "elena"}, {"Marco", "marco"},
    {"Yuki", "yuki"}, {"Min-jun", "minjun"}, {"Grace", "grace"}, {"Ethan", "ethan"},
    {"Camila", "camila"}, {"Diego", "diego"}, {"Ingrid", "ingrid"}, {"Lars", "lars"}};
static const name_pair last_names[] = {
    {"M\xc3\xbcller", "mueller"}, {"Garc\xc3\xad" "a", "garcia"}, {"Smith", "smith"}, {"Rossi", "rossi"},
    {"Nguyen", "nguyen"}, {"Kowalski", "kowalski"}, {"Dubois", "dubois"}, {"Jensen", "jensen"},
    {"Silva", "silva"}, {"Tanaka", "tanaka"}, {"Kim", "kim"}, {"Patel", "patel"},
    {"O'Brien", "obrien"}, {"Johnson", "johnson"}, {"Fern\xc3\xa1ndez", "fernandez"}, {"Novak", "novak"},
    {"Schmidt", "schmidt"}, {"Martin", "martin"}, {"Lopez", "lopez"}, {"Chen", "chen"},
    {"Wang", "wang"}, {"Andersson", "andersson"}, {"Costa", "costa"}, {"Herrera", "herrera"},
    {"Yilmaz", "yilmaz"}, {"Ivanova", "ivanova"}, {"Brown", "brown"}, {"Wilson", "wilson"},
    {"Sato", "sato"}, {"Singh", "singh"}, {"Moreau", "moreau"}, {"Nowak", "nowak"}};
static const name_pair companies[] = {
    {"Acme Logistics", "acmelogistics"}, {"Northwind Traders", "northwind"}, {"Globex", "globex"},
    {"Initech", "initech"}, {"Umbrella Pet Supplies", "umbrellapet"}, {"Blue Harbor", "blueharbor"},
    {"Pine & Oak Home", "pineandoak"}, {"Sunrise Foods", "sunrisefoods"}, {"Vela Motors", "velamotors"},
    {"Bright Paws", "brightpaws"}, {"K\xc3\xb6nig Haushalt", "koenig-haushalt"}, {"Casa Verde", "casaverde"},
    {"Fjord Retail", "fjordretail"}, {"Red Kite Media", "redkite"}, {"Tidewater Health", "tidewater"},
    {"Copperleaf", "copperleaf"}, {"Lumen Beauty", "lumenbeauty"}, {"Atlas Auto Parts", "atlasauto"},
    {"Greenfield Grocers", "greenfield"}, {"Nimbus Appliances", "nimbus"}, {"Orchard Kitchen", "orchard"},
    {"Summit Outdoor", "summitoutdoor"}, {"Harbor & Vine", "harborvine"}, {"Polar Pet Care", "polarpet"}};
static const char *const company_suffix[NREGION][3] = {
    {"GmbH", "Ltd", "B.V."}, {"Inc.", "LLC", "Corp."}, {"Ltda.", "S.A. de C.V.", "S.R.L."},
    {"Pty Ltd", "Pte. Ltd.", "K.K."}};
static const char *const company_tld[NREGION][3] = {
    {".de", ".co.uk", ".eu"}, {".com", ".com", ".us"}, {".com.br", ".mx", ".com.ar"},
    {".com.au", ".sg", ".jp"}};
static const char *const free_mail[] = {"gmail.com", "outlook.com", "yahoo.com"};
static const char *const phone_prefix[NREGION][3] = {
    {"+49 30 ", "+44 20 ", "+33 1 "}, {"+1 415 ", "+1 212 ", "+1 312 "}, {"+55 11 ", "+52 55 ", "+54 11 "},
    {"+61 2 ", "+65 6", "+81 3 "}};

/* Sales reps by region; median lead -> close time (days) and a win factor. */
#define NREP 12
static const int region_rep_first[NREGION] = {0, 4, 8, 10};
static const int region_rep_n[NREGION] = {4, 4, 2, 2};
static const double rep_median_days[NREP] = {7.0, 8.5, 6.0, 10.0, 7.5, 9.0, 6.5, 11.0, 8.0, 10.5, 7.0, 9.5};
static const double rep_win_f[NREP] = {1.05, 0.95, 1.1, 0.9, 1.0, 1.05, 0.95, 0.9, 1.0, 0.95, 1.05, 1.0};
#define CYCLE_SIGMA 0.5

static const char *const segment_name[] = {"pet", "home_appliances", "car_accessories", "food_drink",
                                           "health_beauty"};
#define NSEGMENT 5
static const double segment_w[NSEGMENT] = {0.22, 0.26, 0.18, 0.16, 0.18};
static const double segment_median_eur[NSEGMENT] = {1800, 6500, 3200, 2400, 2100};

static const char *const lost_reason[] = {"price", "competitor", "no_budget", "timing"};
static const double lost_reason_w[4] = {0.32, 0.28, 0.22, 0.18};
static const double lost_reason_w_emea_dip[4] = {0.15, 0.65, 0.10, 0.10};

typedef struct { const char *name; long cents; double w; } product;
static const product products[] = {
    {"GTX Basic", 4900, 0.33}, {"GTX Pro", 12900, 0.24}, {"GTX Team", 49000, 0.06},
    {"MG Special", 29900, 0.10}, {"MG Starter", 1990, 0.16}, {"GTX Pro Annual", 129000, 0.03},
    {"Accessory Pack", 3950, 0.08}};
#define NPRODUCT (sizeof products / sizeof products[0])

static const char *const plan_name[3] = {"basic", "pro", "enterprise"};
static const double plan_w_start[3] = {0.62, 0.30, 0.08};
static const double plan_w_cancel[3] = {0.70, 0.25, 0.05};
static const int plan_mrr[2][3] = {{29, 39, 49}, {99, 149, 199}}; /* enterprise: 25 per seat */
static const char *const cancel_reason[4] = {"price", "churned", "moved", "other"};
static const double cancel_reason_w[4] = {0.35, 0.35, 0.15, 0.15};
static const double cancel_reason_w_burst[4] = {0.75, 0.15, 0.05, 0.05};

/* Hour-of-day (local) and day-of-week (Sun..Sat) shapes; normalised at
 * creation so that each profile averages 1 over a week. */
enum { P_LEAD, P_ORDER, P_CANCEL, P_EMAIL, NPROF };
static const double prof_hour[NPROF][24] = {
    {0.15, 0.10, 0.08, 0.07, 0.08, 0.15, 0.35, 0.70, 1.20, 1.60, 1.80, 1.75,
     1.50, 1.60, 1.75, 1.70, 1.50, 1.25, 1.00, 0.85, 0.70, 0.55, 0.40, 0.25},
    {0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.55, 0.80, 1.00, 1.10, 1.20,
     1.30, 1.20, 1.10, 1.10, 1.20, 1.35, 1.55, 1.70, 1.75, 1.50, 1.00, 0.60},
    {0.20, 0.15, 0.10, 0.10, 0.10, 0.20, 0.40, 0.80, 1.20, 1.40, 1.50, 1.50,
     1.40, 1.40, 1.50, 1.50, 1.40, 1.20, 1.00, 0.90, 0.80, 0.60, 0.40, 0.30},
    {0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.20, 0.80, 2.00, 2.50, 2.00,
     1.20, 1.20, 1.80, 1.80, 1.40, 0.80, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00},
};
static const double prof_dow[NPROF][7] = {
    {0.45, 1.15, 1.20, 1.20, 1.15, 1.00, 0.50},
    {1.00, 0.95, 0.95, 0.95, 1.00, 1.05, 1.10},
    {0.50, 1.20, 1.15, 1.15, 1.10, 1.00, 0.55},
    {0.10, 1.20, 1.30, 1.30, 1.20, 1.00, 0.10},
};

/* Source processes: per region, base events per day per lead/day. */
enum { S_LEAD, S_ORDER, S_SUB_START, S_SUB_CANCEL, S_EMAIL, NSRC };
static const double src_per_lead[NSRC] = {1.0, 0.6, 0.08, 0.04, 2.0};
static const int src_prof[NSRC] = {P_LEAD, P_ORDER, P_LEAD, P_CANCEL, P_EMAIL};
#define NPROC (NSRC * NREGION)

#define PRESEED_MS (90 * PW_MS_PER_D)

/* ---------------------------------------------------------------- incidents */

enum { I_DRY_UP, I_CANCEL_BURST, I_EMEA_DIP, I_STRETCH, NINCIDENT };
static const pw_gen_incident incident_table[NINCIDENT] = {
    {"paid_search_dry_up",
     "paid_search leads fall to ~3% of normal (a broken ad-tracking tag); rule paid_search_leads_low",
     8 * PW_MS_PER_D + 6 * PW_MS_PER_H, 2 * PW_MS_PER_D},
    {"cancellation_burst",
     "a price change triggers 8x the usual subscription cancellations; rule cancellations_high",
     11 * PW_MS_PER_D + 9 * PW_MS_PER_H, 1 * PW_MS_PER_D},
    {"emea_conversion_dip",
     "~90% of EMEA deals decided are lost to a competitor's promotion; rule conversion_emea_low",
     15 * PW_MS_PER_D, 4 * PW_MS_PER_D},
    {"sales_cycle_stretch",
     "deals stall: those closing this week took 3x as long from lead to close; rule sales_cycle_slow",
     20 * PW_MS_PER_D, 7 * PW_MS_PER_D},
};
#define DRY_UP_KEEP 0.03
#define EMEA_DIP_WIN_F 0.10
#define STRETCH_F 3.0
#define CANCEL_BURST_F 8.0

const pw_gen_incident *pw_gen_incidents(size_t *n) {
    if (n) *n = NINCIDENT;
    return incident_table;
}

static const char *const type_name[PW_GEN__NTYPES] = {
    "lead.created", "deal.won", "deal.lost", "order.placed",
    "subscription.started", "subscription.cancelled", "email.sent", "email.clicked"};

const char *pw_gen_type_name(pw_gen_type t) {
    return (unsigned)t < PW_GEN__NTYPES ? type_name[t] : "?";
}

/* --------------------------------------------------------------------- rng */

typedef struct rng { uint64_t s[4]; } rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A bijection of 64-bit integers (splitmix64's finaliser): distinct inputs give distinct ids. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static inline double rng_u01(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; } /* [0, 1) */
static inline uint32_t rng_below(rng *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
static inline double rng_exp(rng *r) { return -log1p(-rng_u01(r)); } /* mean 1 */
static double rng_norm(rng *r) {
    double u1 = 1.0 - rng_u01(r), u2 = rng_u01(r); /* u1 in (0, 1] */
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static int rng_pick(rng *r, const double *w, int n) {
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    double u = rng_u01(r) * tot;
    for (int i = 0; i < n - 1; i++) {
        if (u < w[i]) return i;
        u -= w[i];
    }
    return n - 1;
}

/* ------------------------------------------------------------------- queue */

enum { K_TICK, K_DEAL, K_CLICK };

typedef struct ent {
    int64_t t;        /* event time, ms */
    uint64_t lead;    /* deal, click: lead number */
    uint32_t seq;     /* insertion order: ties in t pop in this order (wrap-safe compare) */
    uint8_t kind;     /* K_* */
    uint8_t region;
    uint8_t a;        /* tick: process index; deal: origin (ORIGIN_MISSING); click: campaign */
    uint8_t b;        /* deal: rep index */
} ent;

typedef struct proc {
    double t;         /* time of the last event drawn, ms (double: sub-ms gaps add up right) */
    double base;      /* events per ms at profile 1 */
    double seg_end;   /* end of the segment whose rate is seg_rate, ms */
    double seg_rate;  /* events per ms until seg_end */
    uint8_t src, region, prof;
} proc;

struct pw_gen {
    pw_gen_conf conf;
    int64_t end;
    rng r;
    uint64_t id_key;
    ent *heap;
    size_t nheap, capheap, maxheap;
    uint32_t seq;
    int done;
    uint64_t nleads, ndeals, norders;
    uint32_t ncustomers;
    int64_t inc_from[NINCIDENT], inc_to[NINCIDENT]; /* absolute; empty when incidents are off */
    double prof[NPROF][168];                         /* hour-of-week (Sun 00h = 0), mean 1 */
    double prof_max[NPROF];
    double close_rate[168];                          /* (lead profile / its max)^3 */
    proc procs[NPROC];
    int64_t ts_day;                                  /* day of the cached date prefix */
    char ts_date[16];                                /* "YYYY-MM-DDT" */
    pw_gen_stats st;
};

static inline int ent_before(const ent *x, const ent *y) {
    return x->t < y->t || (x->t == y->t && (int32_t)(x->seq - y->seq) < 0);
}

/* Push; returns -1 (and counts a drop) when a future event finds the queue full.
 * Ticks always fit: maxheap leaves NPROC slots beyond max_pending. */
static int heap_push(pw_gen *g, ent e) {
    if (e.kind != K_TICK) {
        if (g->st.pending >= g->conf.max_pending) { g->st.dropped++; return -1; }
    }
    if (g->nheap == g->capheap) {
        size_t cap = g->capheap ? g->capheap * 2 : 1024;
        if (cap > g->maxheap) cap = g->maxheap;
        ent *h = realloc(g->heap, cap * sizeof *h);
        if (!h) { g->st.dropped++; return -1; }
        g->heap = h;
        g->capheap = cap;
    }
    e.seq = g->seq++;
    size_t i = g->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_before(&e, &g->heap[p])) break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = e;
    if (e.kind != K_TICK && ++g->st.pending > g->st.pending_peak) g->st.pending_peak = g->st.pending;
    return 0;
}

static ent heap_pop(pw_gen *g) {
    ent top = g->heap[0], last = g->heap[--g->nheap];
    size_t n = g->nheap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_before(&g->heap[c + 1], &g->heap[c])) c++;
        if (!ent_before(&g->heap[c], &last)) break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n) g->heap[i] = last;
    if (top.kind != K_TICK) g->st.pending--;
    return top;
}

/* ------------------------------------------------------------------- rates */

static inline int hour_of_week(int64_t t, int region) {
    int64_t h = pw_floordiv(t + region_utc_off_h[region] * PW_MS_PER_H, PW_MS_PER_H);
    int64_t w = (h + 4 * 24) % 168; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 168 : w);
}

static inline int in_incident(const pw_gen *g, int i, int64_t t) {
    return t >= g->inc_from[i] && t < g->inc_to[i];
}

/* The rate of p (events per ms) on the segment that holds t, and in *seg_end
 * where that segment ends: rates are constant within an hour of the week
 * (regions are whole hours off UTC) and change at the edges of the
 * cancellation burst. Always *seg_end > t. */
static double proc_segment(const pw_gen *g, const proc *p, double t, double *seg_end) {
    int64_t ti = (int64_t)t; /* t > 0: start is at least 90 days after the epoch */
    int64_t end = (ti / PW_MS_PER_H + 1) * PW_MS_PER_H;
    double r = p->base * g->prof[p->prof][hour_of_week(ti, p->region)];
    if (p->src == S_SUB_CANCEL) {
        int64_t a = g->inc_from[I_CANCEL_BURST], b = g->inc_to[I_CANCEL_BURST];
        if (ti >= a && ti < b) {
            r *= CANCEL_BURST_F;
            if (b < end) end = b;
        } else if (ti < a && a < end) {
            end = a;
        }
    }
    *seg_end = (double)end;
    return r;
}

/* Advance p to its next event before limit; returns 0 and the time in p->t,
 * or -1 (p->t = limit) when there is none before limit. Exact sampling of a
 * piecewise-constant rate: draw the next event's "work" from Exp(1) and spend
 * it segment by segment (rate x length each), so no candidate is ever
 * rejected and a quiet night costs one step per hour, not one per draw. */
static int proc_next(pw_gen *g, proc *p, int64_t limit) {
    double need = rng_exp(&g->r);
    for (;;) {
        if (p->t >= p->seg_end) p->seg_rate = proc_segment(g, p, p->t, &p->seg_end);
        double avail = p->seg_rate * (p->seg_end - p->t);
        if (need < avail) {
            p->t += need / p->seg_rate;
            break;
        }
        need -= avail;
        p->t = p->seg_end;
        if (p->t >= (double)limit) break;
    }
    if (p->t >= (double)limit) {
        p->t = (double)limit;
        return -1;
    }
    return 0;
}

static void push_tick(pw_gen *g, int pi) {
    proc *p = &g->procs[pi];
    if (proc_next(g, p, g->end) < 0) return;
    ent e = {.t = (int64_t)p->t, .kind = K_TICK, .region = p->region, .a = (uint8_t)pi};
    heap_push(g, e);
}

/* The rep's next working moment at or after t: the first event of a Poisson
 * process whose rate follows the cube of the region's lead profile
 * (g->close_rate, 1/h at the busiest hour of the week), sampled hour by hour
 * like proc_next. So deals close in office hours, rarely at weekends and
 * never at night: a deal due on Saturday mostly closes on Monday. */
static int64_t business_time(pw_gen *g, double t, int region) {
    double need = rng_exp(&g->r);
    for (;;) {
        int64_t ti = (int64_t)t;
        double end = (double)((ti / PW_MS_PER_H + 1) * PW_MS_PER_H);
        double rate = g->close_rate[hour_of_week(ti, region)] / PW_MS_PER_H;
        double avail = rate * (end - t);
        if (need < avail) return (int64_t)(t + need / rate);
        need -= avail;
        t = end;
        if (t >= (double)g->end) return g->end;
    }
}

/* ---------------------------------------------------------- scheduling */

static int pick_origin(pw_gen *g) {
    if (rng_u01(&g->r) < ORIGIN_MISSING_P) return ORIGIN_MISSING;
    return rng_pick(&g->r, origin_w, NORIGIN);
}

static inline int origin_attr(int origin) { return origin == ORIGIN_MISSING ? O_OTHER : origin; }

/* A new lead at t: maybe queue its deal decision.
 *
 * Normally a lead is decided with p_deal after a rep-dependent lognormal
 * duration d. The sales_cycle_stretch incident acts on what closes during
 * its week [a, b) without touching anything before it:
 *   - a deal due in the week (t + d in [a, b)) slips to t + 3d;
 *   - the week is spent on a pipeline clean-up: stale leads that would never
 *     have been decided (the 1 - p_deal branch) are decided at t + 3d when that
 *     falls in the week, with probability p_deal / (1 - p_deal), which keeps
 *     the number of decisions about the same.
 * So the deals closed that week took about three times as long as usual, the
 * weeks before are unchanged and the slipped deals close over the following
 * weeks. */
static void schedule_deal(pw_gen *g, int64_t t, int region, int origin, uint64_t lead) {
    int oa = origin_attr(origin);
    rng *r = &g->r;
    int decided = rng_u01(r) < origin_p_deal[oa];
    int rep = region_rep_first[region] + (int)rng_below(r, (uint32_t)region_rep_n[region]);
    double dur = rep_median_days[rep] * exp(CYCLE_SIGMA * rng_norm(r)) * PW_MS_PER_D;
    double a = (double)g->inc_from[I_STRETCH], b = (double)g->inc_to[I_STRETCH];
    double c1 = (double)t + dur, c3 = (double)t + STRETCH_F * dur, c;
    if (decided) {
        c = c1 >= a && c1 < b ? c3 : c1;
    } else {
        double q = origin_p_deal[oa] / (1 - origin_p_deal[oa]);
        if (!(c3 >= a && c3 < b && rng_u01(r) < q)) return;
        c = c3;
    }
    /* outcomes before the start were decided in the silent past (a week of
     * margin: the wait for a working moment never comes near it) */
    if (c >= (double)g->end || c < (double)(g->conf.start_ms - 7 * PW_MS_PER_D)) return;
    int64_t close = business_time(g, c, region);
    if (close >= g->end || close < g->conf.start_ms) return;
    ent e = {.t = close, .lead = lead, .kind = K_DEAL, .region = (uint8_t)region,
             .a = (uint8_t)origin, .b = (uint8_t)rep};
    heap_push(g, e);
}

/* --------------------------------------------------------------- rendering */

#define LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

static inline char *put_s(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_q(char *p, const char *s) { /* "s" (s is JSON-safe) */
    *p++ = '"';
    p = put_s(p, s);
    *p++ = '"';
    return p;
}

static char *put_u(char *p, uint64_t v, int width) { /* decimal, zero-padded to width */
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < width) tmp[n++] = '0';
    while (n) *p++ = tmp[--n];
    return p;
}

/* A money amount in cents as a JSON number ("129", "129.5", "129.05") or, when
 * as_string, as a numeric string with two decimals ("129.50"). */
static char *put_cents(char *p, int64_t cents, int as_string) {
    if (cents < 0) cents = 0;
    uint64_t whole = (uint64_t)cents / 100, frac = (uint64_t)cents % 100;
    if (as_string) {
        *p++ = '"';
        p = put_u(p, whole, 1);
        *p++ = '.';
        p = put_u(p, frac, 2);
        *p++ = '"';
        return p;
    }
    p = put_u(p, whole, 1);
    if (frac) {
        *p++ = '.';
        *p++ = (char)('0' + frac / 10);
        if (frac % 10) *p++ = (char)('0' + frac % 10);
    }
    return p;
}

static char *put_ts(pw_gen *g, char *p, int64_t t) {
    int64_t day = pw_floordiv(t, PW_MS_PER_D);
    if (day != g->ts_day) {
        char tmp[40];
        pw_time_format_s(day * PW_MS_PER_D, tmp, sizeof tmp);
        memcpy(g->ts_date, tmp, 11); /* "YYYY-MM-DDT" */
        g->ts_day = day;
    }
    int64_t ms = t - day * PW_MS_PER_D;
    int hh = (int)(ms / PW_MS_PER_H), mm = (int)(ms / PW_MS_PER_M % 60), ss = (int)(ms / 1000 % 60);
    int msr = (int)(ms % 1000);
    *p++ = '"';
    memcpy(p, g->ts_date, 11);
    p += 11;
    *p++ = (char)('0' + hh / 10); *p++ = (char)('0' + hh % 10); *p++ = ':';
    *p++ = (char)('0' + mm / 10); *p++ = (char)('0' + mm % 10); *p++ = ':';
    *p++ = (char)('0' + ss / 10); *p++ = (char)('0' + ss % 10);
    if (msr) {
        *p++ = '.';
        *p++ = (char)('0' + msr / 100); *p++ = (char)('0' + msr / 10 % 10); *p++ = (char)('0' + msr % 10);
    }
    *p++ = 'Z';
    *p++ = '"';
    return p;
}

static char *put_hex64(char *p, uint64_t v) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) p[15 - i] = hex[(v >> (i * 4)) & 15];
    return p + 16;
}

/* {"type":"…","ts":"…","id":"evt-…","region":"…" */
static char *put_head(pw_gen *g, char *p, pw_gen_type type, int64_t t, int region) {
    LIT(p, "{\"type\":\"");
    p = put_s(p, type_name[type]);
    LIT(p, "\",\"ts\":");
    p = put_ts(g, p, t);
    LIT(p, ",\"id\":\"evt-");
    p = put_hex64(p, mix64(g->st.events ^ g->id_key));
    LIT(p, "\",\"region\":\"");
    p = put_s(p, region_name[region]);
    *p++ = '"';
    return p;
}

static char *put_lead_id(char *p, uint64_t lead) {
    LIT(p, "\"lead-");
    p = put_u(p, lead, 7);
    *p++ = '"';
    return p;
}

static char *put_customer(pw_gen *g, char *p) {
    double u = rng_u01(&g->r);
    uint32_t c = (uint32_t)((double)g->ncustomers * u * u); /* loyal customers buy more often */
    LIT(p, ",\"customer_id\":\"cust-");
    p = put_u(p, c, 6);
    *p++ = '"';
    return p;
}

/* A contact field that was not captured: left out, null or "" (present() is 0 for all three). */
static char *put_missing(pw_gen *g, char *p, const char *key, int *first) {
    double u = rng_u01(&g->r);
    if (u < 0.55) return p;
    if (!*first) *p++ = ',';
    *first = 0;
    p = put_q(p, key);
    if (u < 0.85) LIT(p, ":null");
    else LIT(p, ":\"\"");
    return p;
}

static char *put_contact(pw_gen *g, char *p, int origin, int region) {
    const double *cp = origin_contact_p[origin_attr(origin)];
    rng *r = &g->r;
    const name_pair *fn = &first_names[rng_below(r, sizeof first_names / sizeof first_names[0])];
    const name_pair *ln = &last_names[rng_below(r, sizeof last_names / sizeof last_names[0])];
    const name_pair *co = &companies[rng_below(r, sizeof companies / sizeof companies[0])];
    int first = 1;
    LIT(p, ",\"contact\":{");
    if (rng_u01(r) < cp[0]) {
        LIT(p, "\"name\":\"");
        p = put_s(p, fn->shown);
        *p++ = ' ';
        p = put_s(p, ln->shown);
        *p++ = '"';
        first = 0;
    } else {
        p = put_missing(g, p, "name", &first);
    }
    if (rng_u01(r) < cp[1]) {
        if (!first) *p++ = ',';
        first = 0;
        LIT(p, "\"email\":\"");
        uint32_t style = rng_below(r, 4);
        if (style == 0) { *p++ = fn->ascii[0]; *p++ = '.'; p = put_s(p, ln->ascii); }
        else if (style == 1) { p = put_s(p, fn->ascii); p = put_u(p, rng_below(r, 90) + 10, 1); }
        else { p = put_s(p, fn->ascii); *p++ = '.'; p = put_s(p, ln->ascii); }
        *p++ = '@';
        if (rng_u01(r) < 0.25) {
            p = put_s(p, free_mail[rng_below(r, 3)]);
        } else {
            p = put_s(p, co->ascii);
            p = put_s(p, company_tld[region][rng_below(r, 3)]);
        }
        *p++ = '"';
    } else {
        p = put_missing(g, p, "email", &first);
    }
    if (rng_u01(r) < cp[2]) {
        if (!first) *p++ = ',';
        first = 0;
        LIT(p, "\"phone\":\"");
        p = put_s(p, phone_prefix[region][rng_below(r, 3)]);
        p = put_u(p, rng_below(r, 9000000) + 1000000, 7);
        *p++ = '"';
    } else {
        p = put_missing(g, p, "phone", &first);
    }
    if (rng_u01(r) < cp[3]) {
        if (!first) *p++ = ',';
        first = 0;
        LIT(p, "\"company\":\"");
        p = put_s(p, co->shown);
        *p++ = ' ';
        p = put_s(p, company_suffix[region][rng_below(r, 3)]);
        *p++ = '"';
    } else {
        p = put_missing(g, p, "company", &first);
    }
    *p++ = '}';
    return p;
}

/* The ts to write for an event due at t: t, or with out_of_order a little earlier. */
static int64_t emit_time(pw_gen *g, int64_t t) {
    if (g->conf.out_of_order > 0 && rng_u01(&g->r) < g->conf.out_of_order) {
        t -= 1 + (int64_t)rng_below(&g->r, 120000);
        if (t < g->conf.start_ms) t = g->conf.start_ms;
    }
    return t;
}

/* Each render_* writes one event at *pp and returns its type, or -1 if the
 * tick produced no event (a lead that the dry-up swallowed). */
static int render_lead(pw_gen *g, char **pp, int64_t t, int region, int64_t *ts) {
    rng *r = &g->r;
    int origin = pick_origin(g);
    if (origin == O_PAID && in_incident(g, I_DRY_UP, t) && rng_u01(r) >= DRY_UP_KEEP) return -1;
    uint64_t lead = g->nleads++;
    schedule_deal(g, t, region, origin, lead);
    const camp_w *cw = origin_campaigns[origin_attr(origin)];
    double w[4];
    int nc = 0;
    while (nc < 4 && cw[nc].w > 0) { w[nc] = cw[nc].w; nc++; }
    int camp = cw[rng_pick(r, w, nc)].c;
    const char *lp = camp == C_BLACK_FRIDAY && rng_u01(r) < 0.7 ? "lp-black-friday"
                                                                : landing_page[rng_below(r, NLANDING)];
    *ts = emit_time(g, t);
    char *p = put_head(g, *pp, PW_GEN_LEAD_CREATED, *ts, region);
    LIT(p, ",\"lead_id\":");
    p = put_lead_id(p, lead);
    if (origin != ORIGIN_MISSING) {
        LIT(p, ",\"origin\":");
        p = put_q(p, origin_name[origin]);
    }
    LIT(p, ",\"campaign\":");
    p = put_q(p, campaign_name[camp]);
    LIT(p, ",\"landing_page\":");
    p = put_q(p, lp);
    p = put_contact(g, p, origin, region);
    *p++ = '}';
    *pp = p;
    return PW_GEN_LEAD_CREATED;
}

static int render_deal(pw_gen *g, char **pp, const ent *e, int64_t *ts) {
    rng *r = &g->r;
    int origin = e->a, rep = e->b, region = e->region;
    double pw = origin_p_win[origin_attr(origin)] * region_win_f[region] * rep_win_f[rep];
    int dip = region == R_EMEA && in_incident(g, I_EMEA_DIP, e->t);
    if (dip) pw *= EMEA_DIP_WIN_F;
    int won = rng_u01(r) < pw;
    pw_gen_type type = won ? PW_GEN_DEAL_WON : PW_GEN_DEAL_LOST;
    *ts = emit_time(g, e->t);
    char *p = put_head(g, *pp, type, *ts, region);
    LIT(p, ",\"lead_id\":");
    p = put_lead_id(p, e->lead);
    LIT(p, ",\"deal_id\":\"deal-");
    p = put_u(p, g->ndeals++, 6);
    *p++ = '"';
    if (origin != ORIGIN_MISSING) {
        LIT(p, ",\"origin\":");
        p = put_q(p, origin_name[origin]);
    }
    LIT(p, ",\"sr_id\":\"sr-");
    p = put_u(p, (uint64_t)rep + 1, 2);
    *p++ = '"';
    if (won) {
        int seg = rng_pick(r, segment_w, NSEGMENT);
        double eur = segment_median_eur[seg] * exp(0.6 * rng_norm(r));
        int64_t cents = rng_u01(r) < 0.5 ? llround(eur) * 100 : llround(eur * 100);
        LIT(p, ",\"segment\":");
        p = put_q(p, segment_name[seg]);
        LIT(p, ",\"amount\":");
        p = put_cents(p, cents, rng_u01(r) < 0.03);
    } else {
        LIT(p, ",\"reason\":");
        p = put_q(p, lost_reason[rng_pick(r, dip ? lost_reason_w_emea_dip : lost_reason_w, 4)]);
    }
    *p++ = '}';
    *pp = p;
    return type;
}

static int render_order(pw_gen *g, char **pp, int64_t t, int region, int64_t *ts) {
    rng *r = &g->r;
    double w[NPRODUCT];
    for (size_t i = 0; i < NPRODUCT; i++) w[i] = products[i].w;
    const product *pr = &products[rng_pick(r, w, (int)NPRODUCT)];
    double u = rng_u01(r);
    int qty = u < 0.8 ? 1 : u < 0.95 ? 2 : 3 + (int)rng_below(r, 3);
    int64_t cents = (int64_t)pr->cents * qty;
    if (rng_u01(r) < 0.2) cents = cents * 85 / 100; /* a 15% voucher */
    *ts = emit_time(g, t);
    char *p = put_head(g, *pp, PW_GEN_ORDER_PLACED, *ts, region);
    LIT(p, ",\"order_id\":\"ord-");
    p = put_u(p, g->norders++, 7);
    *p++ = '"';
    p = put_customer(g, p);
    LIT(p, ",\"amount\":");
    p = put_cents(p, cents, rng_u01(r) < 0.02);
    LIT(p, ",\"product\":");
    p = put_q(p, pr->name);
    *p++ = '}';
    *pp = p;
    return PW_GEN_ORDER_PLACED;
}

static int render_sub(pw_gen *g, char **pp, int64_t t, int region, int cancel, int64_t *ts) {
    rng *r = &g->r;
    int burst = cancel && in_incident(g, I_CANCEL_BURST, t);
    int plan = rng_pick(r, cancel ? plan_w_cancel : plan_w_start, 3);
    int64_t mrr = plan < 2 ? plan_mrr[plan][rng_below(r, 3)] : 25 * (20 + (int64_t)rng_below(r, 101));
    pw_gen_type type = cancel ? PW_GEN_SUB_CANCELLED : PW_GEN_SUB_STARTED;
    *ts = emit_time(g, t);
    char *p = put_head(g, *pp, type, *ts, region);
    p = put_customer(g, p);
    LIT(p, ",\"plan\":");
    p = put_q(p, plan_name[plan]);
    LIT(p, ",\"mrr\":");
    p = put_cents(p, mrr * 100, rng_u01(r) < 0.02);
    if (cancel) {
        LIT(p, ",\"reason\":");
        p = put_q(p, cancel_reason[rng_pick(r, burst ? cancel_reason_w_burst : cancel_reason_w, 4)]);
    }
    *p++ = '}';
    *pp = p;
    return type;
}

static int render_email_sent(pw_gen *g, char **pp, int64_t t, int region, int64_t *ts) {
    rng *r = &g->r;
    int camp = rng_pick(r, email_campaign_w, NEMAIL_CAMPAIGN);
    /* a recent lead (the last ~60 days of them) */
    uint64_t span = (uint64_t)(g->conf.leads_per_day * 60) + 1;
    if (span > g->nleads) span = g->nleads ? g->nleads : 1;
    uint64_t lead = g->nleads ? g->nleads - 1 - (uint64_t)(rng_u01(r) * (double)span) : 0;
    if (rng_u01(r) < email_campaign_ctr[camp]) {
        double delay = 45.0 * PW_MS_PER_M * exp(1.1 * rng_norm(r));
        if (delay > 3.0 * PW_MS_PER_D) delay = 3.0 * PW_MS_PER_D;
        int64_t at = t + (int64_t)delay;
        if (at < g->end) {
            ent e = {.t = at, .lead = lead, .kind = K_CLICK, .region = (uint8_t)region, .a = (uint8_t)camp};
            heap_push(g, e);
        }
    }
    *ts = emit_time(g, t);
    char *p = put_head(g, *pp, PW_GEN_EMAIL_SENT, *ts, region);
    LIT(p, ",\"campaign\":");
    p = put_q(p, campaign_name[camp]);
    LIT(p, ",\"lead_id\":");
    p = put_lead_id(p, lead);
    *p++ = '}';
    *pp = p;
    return PW_GEN_EMAIL_SENT;
}

static int render_click(pw_gen *g, char **pp, const ent *e, int64_t *ts) {
    *ts = emit_time(g, e->t);
    char *p = put_head(g, *pp, PW_GEN_EMAIL_CLICKED, *ts, e->region);
    LIT(p, ",\"campaign\":");
    p = put_q(p, campaign_name[e->a]);
    LIT(p, ",\"lead_id\":");
    p = put_lead_id(p, e->lead);
    LIT(p, ",\"link\":\"");
    p = put_s(p, campaign_link[e->a]);
    if (rng_u01(&g->r) < 0.3) LIT(p, "/pricing");
    *p++ = '"';
    *p++ = '}';
    *pp = p;
    return PW_GEN_EMAIL_CLICKED;
}

/* The envelope of --envelope, appended inside the closing brace. Drawn from a hash of the event's
 * number, not from g->r, so the events' own fields are the same with and without it. */
static char *put_envelope(const pw_gen *g, char *p) {
    static const char *const agents[] = {
        "Mozilla/5.0 (Windows NT 10.0) Chrome/131",
        "Mozilla/5.0 (Macintosh) Safari/605.1",
        "Mozilla/5.0 (iPhone; iOS 18_1)",
        "Mozilla/5.0 (X11; Linux) Firefox/133",
    };
    static const char *const sources[] = {"crm-eu1", "crm-us1", "web-eu1", "shop-us1"};
    uint64_t h = mix64(g->st.events ^ ~g->id_key);
    p--; /* the event's closing '}' */
    LIT(p, ",\"context\":{\"source\":\"");
    p = put_s(p, sources[h & 3]);
    LIT(p, "\"},\"session_id\":\"s-");
    p = put_hex64(p, mix64(h));
    LIT(p, "\",\"user_agent\":\"");
    p = put_s(p, agents[(h >> 2) & 3]);
    LIT(p, "\"}");
    return p;
}

/* ------------------------------------------------------------------ public */

void pw_gen_conf_init(pw_gen_conf *c) {
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->start_ms = PW_GEN_DEFAULT_START;
    c->duration_ms = PW_GEN_DEFAULT_DAYS * PW_MS_PER_D;
    c->leads_per_day = PW_GEN_DEFAULT_LEADS;
    c->incidents = 1;
}

static pw_gen *fail(char *errbuf, size_t errlen, const char *msg) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "%s", msg);
    return NULL;
}

pw_gen *pw_gen_new(const pw_gen_conf *conf, char *errbuf, size_t errlen) {
    /* 9999-12-31 bounds what the ts renderer can write (four-digit years). */
    const int64_t min_ms = 0, max_ms = 253402300800000LL;
    if (!conf) return fail(errbuf, errlen, "no configuration");
    if (!(conf->leads_per_day > 0 && conf->leads_per_day <= 1e6))
        return fail(errbuf, errlen, "leads_per_day must be > 0 and <= 1e6");
    if (conf->duration_ms <= 0) return fail(errbuf, errlen, "duration must be > 0");
    if (conf->start_ms < min_ms + PRESEED_MS || conf->start_ms >= max_ms ||
        conf->duration_ms > max_ms - conf->start_ms)
        return fail(errbuf, errlen, "start and end must lie between 1970-04-01 and 9999-12-31");
    if (!(conf->out_of_order >= 0 && conf->out_of_order <= 1))
        return fail(errbuf, errlen, "out_of_order must be between 0 and 1");

    pw_gen *g = calloc(1, sizeof *g);
    if (!g) return fail(errbuf, errlen, "out of memory");
    g->conf = *conf;
    if (!g->conf.max_pending) g->conf.max_pending = PW_GEN_DEFAULT_PENDING;
    g->maxheap = (size_t)g->conf.max_pending + NPROC;
    g->end = conf->start_ms + conf->duration_ms;
    uint64_t sm = conf->seed;
    for (int i = 0; i < 4; i++) g->r.s[i] = splitmix64(&sm);
    g->id_key = splitmix64(&sm);
    g->ts_day = INT64_MIN;
    double nc = conf->leads_per_day * 25;
    g->ncustomers = nc < 200 ? 200 : nc > 4e9 ? 4000000000u : (uint32_t)nc;
    for (int i = 0; i < NINCIDENT; i++) {
        if (conf->incidents) {
            g->inc_from[i] = conf->start_ms + incident_table[i].offset_ms;
            g->inc_to[i] = g->inc_from[i] + incident_table[i].duration_ms;
        } else {
            g->inc_from[i] = g->inc_to[i] = INT64_MIN; /* empty: no t is in [MIN, MIN) */
        }
    }
    for (int pi = 0; pi < NPROF; pi++) {
        double mh = 0, md = 0, mx = 0;
        for (int h = 0; h < 24; h++) mh += prof_hour[pi][h] / 24;
        for (int d = 0; d < 7; d++) md += prof_dow[pi][d] / 7;
        for (int w = 0; w < 168; w++) {
            double v = prof_hour[pi][w % 24] * prof_dow[pi][w / 24] / (mh * md);
            g->prof[pi][w] = v;
            if (v > mx) mx = v;
        }
        g->prof_max[pi] = mx;
    }
    for (int w = 0; w < 168; w++) g->close_rate[w] = pow(g->prof[P_LEAD][w] / g->prof_max[P_LEAD], 3);
    for (int s = 0; s < NSRC; s++) {
        for (int rg = 0; rg < NREGION; rg++) {
            proc *p = &g->procs[s * NREGION + rg];
            p->src = (uint8_t)s;
            p->region = (uint8_t)rg;
            p->prof = (uint8_t)src_prof[s];
            p->base = conf->leads_per_day * src_per_lead[s] * region_w[rg] / PW_MS_PER_D;
            p->t = (double)conf->start_ms;
            p->seg_end = 0; /* no segment cached yet */
        }
    }
    /* Deals in flight: replay the leads of the last 90 days without emitting
     * them, the four regions merged in time order so lead numbers grow with time. */
    int live[NREGION];
    for (int rg = 0; rg < NREGION; rg++) {
        proc *p = &g->procs[S_LEAD * NREGION + rg];
        p->t = (double)(conf->start_ms - PRESEED_MS);
        p->seg_end = 0;
        live[rg] = proc_next(g, p, conf->start_ms) == 0;
    }
    const proc *lp = &g->procs[S_LEAD * NREGION];
    for (;;) {
        int best = -1;
        for (int rg = 0; rg < NREGION; rg++)
            if (live[rg] && (best < 0 || lp[rg].t < lp[best].t)) best = rg;
        if (best < 0) break;
        proc *p = &g->procs[S_LEAD * NREGION + best];
        schedule_deal(g, (int64_t)p->t, best, pick_origin(g), g->nleads++);
        live[best] = proc_next(g, p, conf->start_ms) == 0;
    }
    for (int pi = 0; pi < NPROC; pi++) push_tick(g, pi);
    return g;
}

void pw_gen_destroy(pw_gen *g) {
    if (!g) return;
    free(g->heap);
    free(g);
}

int pw_gen_next(pw_gen *g, pw_buf *out, int64_t *ts) {
    while (!g->done) {
        if ((g->conf.max_events && g->st.events >= g->conf.max_events) || !g->nheap) break;
        if (g->heap[0].t >= g->end) break;
        ent e = heap_pop(g);
        pw_buf_reserve(out, PW_GEN_MAX_EVENT);
        char *p = out->data + out->len;
        int64_t t = e.t;
        int type;
        if (e.kind == K_TICK) {
            const proc *pr = &g->procs[e.a];
            switch (pr->src) {
            case S_LEAD: type = render_lead(g, &p, e.t, e.region, &t); break;
            case S_ORDER: type = render_order(g, &p, e.t, e.region, &t); break;
            case S_SUB_START: type = render_sub(g, &p, e.t, e.region, 0, &t); break;
            case S_SUB_CANCEL: type = render_sub(g, &p, e.t, e.region, 1, &t); break;
            default: type = render_email_sent(g, &p, e.t, e.region, &t); break;
            }
            push_tick(g, e.a);
        } else if (e.kind == K_DEAL) {
            type = render_deal(g, &p, &e, &t);
        } else {
            type = render_click(g, &p, &e, &t);
        }
        if (type < 0) continue;
        if (g->conf.envelope) p = put_envelope(g, p);
        out->len = (size_t)(p - out->data);
        out->data[out->len] = 0;
        g->st.events++;
        g->st.by_type[type]++;
        if (ts) *ts = t;
        return 0;
    }
    g->done = 1;
    return -1;
}

void pw_gen_get_stats(const pw_gen *g, pw_gen_stats *out) {
    *out = g->st;
    out->heap_bytes = sizeof *g + g->capheap * sizeof(ent);
}
