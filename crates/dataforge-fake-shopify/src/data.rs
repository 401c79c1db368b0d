//! Deterministic generation of Shopify-shaped records.
//!
//! Every record is generated from `(seed, kind, index)` alone, so a record can be rebuilt at any
//! time without being stored: the store keeps only a small [`Meta`] per record (id, timestamps,
//! status) and builds the REST or GraphQL JSON of a record when it is asked for.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Sarah",
    "Daniel",
    "Emily",
    "Chris",
    "José",
    "Zoë",
    "Björn",
    "Łukasz",
    "François",
    "Siobhán",
    "Chloé",
    "Mårten",
    "Ngọc",
    "陈",
    "Ольга",
    "Søren",
    "Aoife",
    "Hiroshi",
    "Priya",
    "Renée",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Clark",
    "Müller",
    "Núñez",
    "O'Brien",
    "Øyvindsen",
    "Dvořák",
    "Żółć",
    "王",
    "Иванова",
    "van der Berg",
    "D'Angelo",
    "Nakamura",
    "Kowalski",
    "Schäfer",
    "Nguyễn",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "hotmail.com",
    "proton.me",
    "example.com",
    "shop.co.uk",
    "web.de",
    "mail.ru",
];
const HANDLES: &[&str] = &[
    "alex", "sam", "jo", "kim", "max", "lee", "pat", "robin", "casey", "drew", "jordan", "taylor",
    "morgan", "riley", "jamie", "quinn",
];
const ADJ: &[&str] = &[
    "Classic",
    "Organic",
    "Vintage",
    "Deluxe",
    "Eco",
    "Mini",
    "Premium",
    "Handmade",
    "Café",
    "Jalapeño",
    "Nordic",
    "Sakura 桜",
    "Crème",
    "Ünïcode 🎉",
    "Everyday",
    "Limited",
];
const NOUN: &[&str] = &[
    "Mug",
    "T-Shirt",
    "Hoodie",
    "Socks",
    "Tote Bag",
    "Candle",
    "Notebook",
    "Hot Sauce",
    "Tea Set",
    "Cap",
    "Poster",
    "Water Bottle",
    "Soap",
    "Scarf",
    "Backpack",
    "Sticker Pack",
];
const VENDORS: &[&str] = &[
    "Acme Co",
    "Bergström & Söhne",
    "Northwind",
    "Hōkū Goods",
    "Lumen Labs",
    "Maison Élise",
];
const CURRENCIES: &[(&str, u32)] = &[("USD", 70), ("CAD", 8), ("EUR", 10), ("GBP", 7), ("AUD", 5)];
const FIN_STATUS: &[(Option<&str>, u32)] = &[
    (Some("paid"), 790),
    (Some("pending"), 80),
    (Some("refunded"), 40),
    (Some("partially_refunded"), 30),
    (Some("authorized"), 45),
    (Some("voided"), 10),
    (None, 5),
];
const TAGS: &[&str] = &[
    "vip",
    "wholesale",
    "repeat",
    "first-order",
    "gift",
    "subscription",
    "b2b",
    "Black Friday",
    "influencer",
    "ñandú",
    "pre-order",
    "local pickup",
];
const NOTES: &[&str] = &[
    "Please leave at the door.",
    "Gift \"wrap\" please!",
    "Call before delivery,\nthanks",
    "Bitte nicht klingeln",
    "配達前に電話してください",
    "No plastic 🙏",
    "Fragile; handle with care",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Portland", "OR", "US", "97201"),
    ("Toronto", "ON", "CA", "M5V 2T6"),
    ("Berlin", "BE", "DE", "10115"),
    ("London", "ENG", "GB", "SW1A 1AA"),
    ("Sydney", "NSW", "AU", "2000"),
    ("Austin", "TX", "US", "73301"),
    ("Montréal", "QC", "CA", "H2X 1Y4"),
    ("Málaga", "AN", "ES", "29001"),
];
const STREETS: &[&str] = &["Main St", "Hauptstraße 5", "Rue de l'Église", "High Street"];
/// Shop-local UTC offsets in seconds (REST timestamps carry one of them).
const OFFSETS: &[i32] = &[
    -8 * 3600,
    -7 * 3600,
    -5 * 3600,
    -4 * 3600,
    0,
    3600,
    2 * 3600,
    5 * 3600 + 1800,
    9 * 3600,
    10 * 3600,
];
const CANCEL_REASONS: &[&str] = &["customer", "fraud", "inventory", "declined", "other"];
const SIZES: &[&str] = &["S", "M", "L", "XL"];
/// 2022-01-01 as days since the epoch; records are created over the following 1,096 days.
const DAY0: i64 = 18993;
const NDAYS: i64 = 1096;
const DAY: i64 = 86_400;

/// First order id (like gen_orders.py: `5_100_000_000_000 + i * 10 + rand(10)`).
const ORDER_ID0: i64 = 5_100_000_000_000;
const CUSTOMER_ID0: i64 = 6_200_000_000_000;
const PRODUCT_ID0: i64 = 7_000_000_000_000;
const VARIANT_ID0: i64 = 40_000_000_000_000;
const LINE_ITEM_ID0: i64 = 13_000_000_000_000;

/// The three generated resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    Orders,
    Customers,
    Products,
}

impl Resource {
    pub(crate) fn parse(name: &str) -> Option<Resource> {
        match name {
            "orders" => Some(Resource::Orders),
            "customers" => Some(Resource::Customers),
            "products" => Some(Resource::Products),
            _ => None,
        }
    }

    /// The GraphQL object type of a node.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Resource::Orders => "Order",
            Resource::Customers => "Customer",
            Resource::Products => "Product",
        }
    }

    /// The access scope the resource needs.
    pub(crate) fn scope(self) -> &'static str {
        match self {
            Resource::Orders => "read_orders",
            Resource::Customers => "read_customers",
            Resource::Products => "read_products",
        }
    }
}

/// What the store keeps per record: enough to filter and sort without generating the record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) id: i64,
    /// Epoch seconds (UTC).
    pub(crate) created: i64,
    pub(crate) updated: i64,
    /// Epoch seconds, 0 = not closed.
    pub(crate) closed: i64,
    /// Epoch seconds, 0 = not cancelled.
    pub(crate) cancelled: i64,
    /// Index into `OFFSETS`.
    pub(crate) offset: u8,
}

impl Meta {
    /// REST `status` of an order: `open`, `closed` or `cancelled`.
    pub(crate) fn status(&self) -> &'static str {
        if self.cancelled != 0 {
            "cancelled"
        } else if self.closed != 0 {
            "closed"
        } else {
            "open"
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn rng(seed: u64, kind: u64, index: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(splitmix(seed ^ splitmix((kind << 56) ^ index)))
}

fn pick<'a>(r: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[r.usize(..items.len())]
}

fn weighted<T: Copy>(r: &mut fastrand::Rng, pairs: &[(T, u32)]) -> T {
    let total: u32 = pairs.iter().map(|(_, w)| w).sum();
    let mut x = r.u32(..total);
    for (v, w) in pairs {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    pairs[pairs.len() - 1].0
}

/// REST money: always two decimals (`"19.99"`, `"5.00"`).
pub(crate) fn money_rest(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// GraphQL Decimal: no fixed decimals (`"55.0"`, `"25.98"`, `"12.5"`).
pub(crate) fn money_gql(cents: i64) -> String {
    let (units, rest) = (cents / 100, cents % 100);
    if rest == 0 {
        format!("{units}.0")
    } else if rest % 10 == 0 {
        format!("{units}.{}", rest / 10)
    } else {
        format!("{units}.{rest:02}")
    }
}

/// Epoch seconds → UTC `…Z` (GraphQL).
pub(crate) fn ts_utc(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Epoch seconds → shop-local time with offset (REST).
pub(crate) fn ts_local(secs: i64, offset: u8) -> String {
    let off = OFFSETS[usize::from(offset) % OFFSETS.len()];
    let tz = FixedOffset::east_opt(off)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("0 is a valid offset"));
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn opt_ts_utc(secs: i64) -> Value {
    if secs == 0 {
        Value::Null
    } else {
        Value::String(ts_utc(secs))
    }
}

fn opt_ts_local(secs: i64, offset: u8) -> Value {
    if secs == 0 {
        Value::Null
    } else {
        Value::String(ts_local(secs, offset))
    }
}

fn gid(kind: &str, id: i64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

fn money_bag(cents: i64, currency: &str) -> Value {
    let m = json!({"amount": money_gql(cents), "currencyCode": currency});
    json!({"shopMoney": m.clone(), "presentmentMoney": m})
}

fn rest_money_set(cents: i64, currency: &str) -> Value {
    let m = json!({"amount": money_rest(cents), "currency_code": currency});
    json!({"shop_money": m.clone(), "presentment_money": m})
}

fn tags_of(r: &mut fastrand::Rng) -> Vec<&'static str> {
    let n = weighted(r, &[(0usize, 40), (1, 35), (2, 18), (3, 7)]);
    let mut all: Vec<&'static str> = TAGS.to_vec();
    r.shuffle(&mut all);
    let mut tags: Vec<&'static str> = all.into_iter().take(n).collect();
    tags.sort_unstable();
    tags
}

/// A catalog entry line items point at.
#[derive(Clone, Debug)]
struct CatalogItem {
    product_id: i64,
    variant_id: i64,
    title: String,
    sku: Option<String>,
    vendor: &'static str,
    price_cents: i64,
    grams: i64,
}

fn catalog(seed: u64) -> Vec<CatalogItem> {
    let mut r = rng(seed, 9, 0);
    (0..240i64)
        .map(|i| CatalogItem {
            product_id: PRODUCT_ID0 + i * 137,
            variant_id: VARIANT_ID0 + i * 911,
            title: format!("{} {}", pick(&mut r, ADJ), pick(&mut r, NOUN)),
            sku: if r.f64() < 0.08 {
                None
            } else {
                Some(format!("SKU-{:05}", i * 7 + 3))
            },
            vendor: pick(&mut r, VENDORS),
            price_cents: [
                499, 999, 1250, 1499, 1999, 2450, 2999, 3999, 4999, 7999, 12900,
            ][r.usize(..11)],
            grams: [50, 120, 250, 400, 800, 1500][r.usize(..6)],
        })
        .collect()
}

const K_ORDER_META: u64 = 1;
const K_ORDER: u64 = 2;
const K_CUSTOMER: u64 = 3;
const K_PRODUCT: u64 = 4;

fn order_meta(seed: u64, i: u64) -> Meta {
    let mut r = rng(seed, K_ORDER_META, i);
    let id = ORDER_ID0 + i as i64 * 10 + r.i64(0..10);
    let created = (DAY0 + r.i64(0..NDAYS)) * DAY + r.i64(0..DAY);
    let offset = r.u8(0..OFFSETS.len() as u8);
    let roll = r.f64();
    let (mut closed, mut cancelled) = (0, 0);
    if roll < 0.05 {
        cancelled = created + r.i64(600..5 * DAY);
    } else if roll < 0.30 {
        closed = created + r.i64(DAY..20 * DAY);
    }
    let last = created.max(closed).max(cancelled);
    let updated = if r.bool() {
        last
    } else {
        last + r.i64(1..3 * DAY)
    };
    Meta {
        id,
        created,
        updated,
        closed,
        cancelled,
        offset,
    }
}

fn simple_meta(seed: u64, kind: u64, i: u64, id0: i64) -> Meta {
    let mut r = rng(seed, kind + 16, i);
    let id = id0 + i as i64 * 10 + r.i64(0..10);
    let created = (DAY0 - 400 + r.i64(0..NDAYS + 400)) * DAY + r.i64(0..DAY);
    let updated = created + if r.bool() { 0 } else { r.i64(1..200 * DAY) };
    Meta {
        id,
        created,
        updated,
        closed: 0,
        cancelled: 0,
        offset: r.u8(0..OFFSETS.len() as u8),
    }
}

/// The records of the shop: metas plus the seed to rebuild bodies.
pub(crate) struct Store {
    seed: u64,
    catalog: Vec<CatalogItem>,
    orders: RwLock<Vec<Meta>>,
    customers: RwLock<Vec<Meta>>,
    products: RwLock<Vec<Meta>>,
}

/// A customer's generated body.
struct CustomerRec {
    first: Option<&'static str>,
    last: &'static str,
    email: String,
    orders_count: i64,
    spent_cents: i64,
    currency: &'static str,
    tags: Vec<&'static str>,
    state: &'static str,
    verified: bool,
}

impl Store {
    pub(crate) fn new(seed: u64, orders: usize, customers: usize, products: usize) -> Store {
        Store {
            seed,
            catalog: catalog(seed),
            orders: RwLock::new((0..orders as u64).map(|i| order_meta(seed, i)).collect()),
            customers: RwLock::new(
                (0..customers as u64)
                    .map(|i| simple_meta(seed, K_CUSTOMER, i, CUSTOMER_ID0))
                    .collect(),
            ),
            products: RwLock::new(
                (0..products as u64)
                    .map(|i| simple_meta(seed, K_PRODUCT, i, PRODUCT_ID0))
                    .collect(),
            ),
        }
    }

    fn lock(&self, r: Resource) -> &RwLock<Vec<Meta>> {
        match r {
            Resource::Orders => &self.orders,
            Resource::Customers => &self.customers,
            Resource::Products => &self.products,
        }
    }

    /// The metas of a resource, in index (= ascending id) order.
    pub(crate) fn metas(&self, r: Resource) -> RwLockReadGuard<'_, Vec<Meta>> {
        self.lock(r)
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn metas_mut(&self, r: Resource) -> RwLockWriteGuard<'_, Vec<Meta>> {
        self.lock(r)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets `updated_at` of `n` orders spread over the id range.
    pub(crate) fn touch_orders(&self, n: usize, at: DateTime<Utc>) -> Vec<i64> {
        let mut metas = self.metas_mut(Resource::Orders);
        let len = metas.len();
        let n = n.min(len);
        (0..n)
            .map(|k| {
                let i = (k * len + len / 2) / n.max(1);
                let m = &mut metas[i.min(len - 1)];
                m.updated = at.timestamp();
                m.id
            })
            .collect()
    }

    /// Appends `n` open orders created and updated at `at`.
    pub(crate) fn add_orders(&self, n: usize, at: DateTime<Utc>) -> Vec<i64> {
        let mut metas = self.metas_mut(Resource::Orders);
        let start = metas.len() as u64;
        (start..start + n as u64)
            .map(|i| {
                let mut m = order_meta(self.seed, i);
                m.created = at.timestamp();
                m.updated = at.timestamp();
                m.closed = 0;
                m.cancelled = 0;
                metas.push(m);
                m.id
            })
            .collect()
    }

    /// REST JSON of record `i`.
    pub(crate) fn rest(&self, r: Resource, i: usize, m: &Meta) -> Value {
        match r {
            Resource::Orders => self.order(i as u64, m, false),
            Resource::Customers => customer_json(self.seed, i as u64, m, false),
            Resource::Products => product_json(self.seed, i as u64, m, false),
        }
    }

    /// GraphQL-shaped JSON of record `i` (every field of the fake schema present).
    pub(crate) fn graphql(&self, r: Resource, i: usize, m: &Meta) -> Value {
        match r {
            Resource::Orders => self.order(i as u64, m, true),
            Resource::Customers => customer_json(self.seed, i as u64, m, true),
            Resource::Products => product_json(self.seed, i as u64, m, true),
        }
    }

    fn order(&self, i: u64, m: &Meta, gql: bool) -> Value {
        let mut r = rng(self.seed, K_ORDER, i);
        let currency = weighted(&mut r, CURRENCIES);
        let n_customers = self.customers.read().map(|c| c.len()).unwrap_or(0);
        // customer: 2% guest checkouts; linked to a generated customer when there are some
        let customer = if r.f64() < 0.02 {
            None
        } else if n_customers > 0 {
            let ci = r.usize(..n_customers);
            let cm = self.metas(Resource::Customers)[ci];
            Some((cm, customer_rec(self.seed, ci as u64)))
        } else {
            let ci = 1_000_000 + r.u64(0..5_000_000);
            let cm = simple_meta(self.seed, K_CUSTOMER, ci, CUSTOMER_ID0);
            Some((cm, customer_rec(self.seed, ci)))
        };
        let email: Option<String> = if r.f64() < 0.03 {
            None
        } else if let Some((_, c)) = &customer {
            Some(c.email.clone())
        } else {
            Some(format!(
                "guest{}+order@{}",
                r.u32(0..100_000),
                pick(&mut r, DOMAINS)
            ))
        };
        let nitems = weighted(&mut r, &[(1usize, 45), (2, 25), (3, 15), (4, 9), (5, 6)]);
        let mut subtotal = 0i64;
        let mut discounts = 0i64;
        let mut items = Vec::with_capacity(nitems);
        for j in 0..nitems {
            let p = &self.catalog[r.usize(..self.catalog.len())];
            let qty = weighted(&mut r, &[(1i64, 70), (2, 20), (3, 6), (4, 4)]);
            let disc = if r.f64() < 0.85 {
                0
            } else {
                p.price_cents * qty / 10
            };
            subtotal += p.price_cents * qty - disc;
            discounts += disc;
            let li_id = LINE_ITEM_ID0 + i as i64 * 8 + j as i64;
            let taxable = r.f64() < 0.9;
            let requires_shipping = r.f64() < 0.95;
            let fulfilled = r.f64() >= 0.6;
            items.push(if gql {
                json!({
                    "id": gid("LineItem", li_id),
                    "sku": p.sku,
                    "title": p.title,
                    "quantity": qty,
                    "vendor": p.vendor,
                    "originalUnitPriceSet": money_bag(p.price_cents, currency),
                })
            } else {
                json!({
                    "id": li_id,
                    "admin_graphql_api_id": gid("LineItem", li_id),
                    "product_id": p.product_id,
                    "variant_id": p.variant_id,
                    "title": p.title,
                    "sku": p.sku,
                    "vendor": p.vendor,
                    "quantity": qty,
                    "price": money_rest(p.price_cents),
                    "price_set": rest_money_set(p.price_cents, currency),
                    "total_discount": money_rest(disc),
                    "grams": p.grams,
                    "taxable": taxable,
                    "requires_shipping": requires_shipping,
                    "fulfillment_status": if fulfilled { Some("fulfilled") } else { None },
                })
            });
        }
        let tax = subtotal * [0, 5, 8, 13, 19, 20][r.usize(..6)] / 100;
        let shipping = [0, 0, 499, 899, 1500][r.usize(..5)];
        let total = subtotal + tax + shipping;
        let tags = tags_of(&mut r);
        let address = if r.f64() < 0.1 {
            None
        } else {
            let (city, prov, country, zip) = CITIES[r.usize(..CITIES.len())];
            let street = format!("{} {}", r.u32(1..9999), pick(&mut r, STREETS));
            Some((city, prov, country, zip, street))
        };
        let financial = weighted(&mut r, FIN_STATUS);
        let fulfillment = if r.bool() { None } else { Some("fulfilled") };
        let note = if r.f64() < 0.85 {
            None
        } else {
            Some(pick(&mut r, NOTES))
        };
        let cancel_reason = if m.cancelled != 0 {
            Some(pick(&mut r, CANCEL_REASONS))
        } else {
            None
        };
        let number = 1001 + i;
        let (first, last) = match &customer {
            Some((_, c)) => (c.first, Some(c.last)),
            None => (None, None),
        };
        if gql {
            json!({
                "id": gid("Order", m.id),
                "legacyResourceId": m.id.to_string(),
                "name": format!("#{number}"),
                "email": email,
                "createdAt": ts_utc(m.created),
                "updatedAt": ts_utc(m.updated),
                "processedAt": ts_utc(m.created),
                "closedAt": opt_ts_utc(m.closed),
                "cancelledAt": opt_ts_utc(m.cancelled),
                "closed": m.closed != 0,
                "cancelReason": cancel_reason.map(str::to_uppercase),
                "currencyCode": currency,
                "displayFinancialStatus": financial.map(str::to_uppercase),
                "displayFulfillmentStatus": if fulfillment.is_some() { "FULFILLED" } else { "UNFULFILLED" },
                "tags": tags,
                "note": note,
                "test": false,
                "totalPriceSet": money_bag(total, currency),
                "subtotalPriceSet": money_bag(subtotal, currency),
                "totalTaxSet": money_bag(tax, currency),
                "customer": customer.as_ref().map(|(cm, c)| customer_gql(cm, c)),
                "lineItems": items,
                "shippingAddress": address.map(|(city, prov, country, zip, street)| json!({
                    "firstName": first, "lastName": last, "address1": street, "address2": null,
                    "city": city, "provinceCode": prov, "countryCodeV2": country, "zip": zip,
                })),
            })
        } else {
            json!({
                "id": m.id,
                "admin_graphql_api_id": gid("Order", m.id),
                "name": format!("#{number}"),
                "order_number": number,
                "number": number - 1000,
                "email": email,
                "contact_email": email,
                "created_at": ts_local(m.created, m.offset),
                "updated_at": ts_local(m.updated, m.offset),
                "processed_at": ts_local(m.created, m.offset),
                "closed_at": opt_ts_local(m.closed, m.offset),
                "cancelled_at": opt_ts_local(m.cancelled, m.offset),
                "cancel_reason": cancel_reason,
                "currency": currency,
                "presentment_currency": currency,
                "financial_status": financial,
                "fulfillment_status": fulfillment,
                "subtotal_price": money_rest(subtotal),
                "total_tax": money_rest(tax),
                "total_price": money_rest(total),
                "total_discounts": money_rest(discounts),
                "total_price_set": rest_money_set(total, currency),
                "taxes_included": false,
                "test": false,
                "note": note,
                "tags": tags.join(", "),
                "customer": customer.as_ref().map(|(cm, c)| json!({
                    "id": cm.id,
                    "email": c.email,
                    "first_name": c.first,
                    "last_name": c.last,
                    "orders_count": c.orders_count,
                    "state": c.state,
                    "created_at": ts_local(cm.created, m.offset),
                })),
                "line_items": items,
                "shipping_address": address.map(|(city, prov, country, zip, street)| json!({
                    "first_name": first, "last_name": last, "address1": street, "address2": null,
                    "city": city, "province_code": prov, "country_code": country, "zip": zip,
                })),
            })
        }
    }
}

fn customer_rec(seed: u64, i: u64) -> CustomerRec {
    let mut r = rng(seed, K_CUSTOMER, i);
    let first = if r.f64() < 0.01 {
        None
    } else {
        Some(pick(&mut r, FIRST))
    };
    let last = pick(&mut r, LAST);
    let ascii: String = last
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    let email = format!(
        "{}.{}{}@{}",
        pick(&mut r, HANDLES),
        if ascii.is_empty() {
            "user".to_owned()
        } else {
            ascii
        },
        r.u32(0..1000),
        pick(&mut r, DOMAINS)
    );
    let orders_count = r.i64(0..40);
    CustomerRec {
        first,
        last,
        email,
        orders_count,
        spent_cents: orders_count * r.i64(500..15_000),
        currency: weighted(&mut r, CURRENCIES),
        tags: tags_of(&mut r),
        state: weighted(&mut r, &[("enabled", 80), ("disabled", 15), ("invited", 5)]),
        verified: r.f64() < 0.9,
    }
}

fn customer_gql(m: &Meta, c: &CustomerRec) -> Value {
    json!({
        "id": gid("Customer", m.id),
        "legacyResourceId": m.id.to_string(),
        "email": c.email,
        "firstName": c.first,
        "lastName": c.last,
        "createdAt": ts_utc(m.created),
        "updatedAt": ts_utc(m.updated),
        "numberOfOrders": c.orders_count.to_string(),
        "amountSpent": {"amount": money_gql(c.spent_cents), "currencyCode": c.currency},
        "tags": c.tags,
        "verifiedEmail": c.verified,
        "state": c.state.to_uppercase(),
    })
}

fn customer_json(seed: u64, i: u64, m: &Meta, gql: bool) -> Value {
    let c = customer_rec(seed, i);
    if gql {
        return customer_gql(m, &c);
    }
    json!({
        "id": m.id,
        "admin_graphql_api_id": gid("Customer", m.id),
        "email": c.email,
        "first_name": c.first,
        "last_name": c.last,
        "created_at": ts_local(m.created, m.offset),
        "updated_at": ts_local(m.updated, m.offset),
        "orders_count": c.orders_count,
        "total_spent": money_rest(c.spent_cents),
        "currency": c.currency,
        "tags": c.tags.join(", "),
        "state": c.state,
        "verified_email": c.verified,
    })
}

fn product_json(seed: u64, i: u64, m: &Meta, gql: bool) -> Value {
    let mut r = rng(seed, K_PRODUCT, i);
    let adj = pick(&mut r, ADJ);
    let noun = pick(&mut r, NOUN);
    let title = format!("{adj} {noun}");
    let handle: String = title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
        + &format!("-{i}");
    let vendor = pick(&mut r, VENDORS);
    let status = weighted(&mut r, &[("active", 85), ("draft", 10), ("archived", 5)]);
    let published = if status == "active" {
        m.created + r.i64(0..DAY)
    } else {
        0
    };
    let tags = tags_of(&mut r);
    let nvariants = r.usize(1..5);
    let price = [499i64, 999, 1250, 1499, 1999, 2450, 2999][r.usize(..7)];
    let mut total_inventory = 0;
    let variants: Vec<Value> = (0..nvariants)
        .map(|j| {
            let vid = VARIANT_ID0 + i as i64 * 8 + j as i64;
            let vtitle = if nvariants == 1 {
                "Default Title"
            } else {
                SIZES[j % SIZES.len()]
            };
            let sku = format!("P{i}-{vtitle}").replace(' ', "");
            let qty = r.i64(0..200);
            total_inventory += qty;
            if gql {
                json!({"id": gid("ProductVariant", vid), "sku": sku, "price": money_gql(price),
                       "title": vtitle, "inventoryQuantity": qty})
            } else {
                json!({"id": vid, "product_id": m.id, "title": vtitle, "sku": sku,
                       "price": money_rest(price), "inventory_quantity": qty})
            }
        })
        .collect();
    if gql {
        json!({
            "id": gid("Product", m.id),
            "legacyResourceId": m.id.to_string(),
            "title": title,
            "handle": handle,
            "vendor": vendor,
            "productType": noun,
            "status": status.to_uppercase(),
            "tags": tags,
            "createdAt": ts_utc(m.created),
            "updatedAt": ts_utc(m.updated),
            "publishedAt": opt_ts_utc(published),
            "totalInventory": total_inventory,
            "variants": variants,
        })
    } else {
        json!({
            "id": m.id,
            "admin_graphql_api_id": gid("Product", m.id),
            "title": title,
            "handle": handle,
            "vendor": vendor,
            "product_type": noun,
            "status": status,
            "tags": tags.join(", "),
            "created_at": ts_local(m.created, m.offset),
            "updated_at": ts_local(m.updated, m.offset),
            "published_at": opt_ts_local(published, m.offset),
            "variants": variants,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_status_mix() {
        let a = Store::new(7, 2000, 10, 10);
        let b = Store::new(7, 2000, 10, 10);
        let ma = a.metas(Resource::Orders);
        let mb = b.metas(Resource::Orders);
        assert_eq!(
            a.rest(Resource::Orders, 5, &ma[5]),
            b.rest(Resource::Orders, 5, &mb[5])
        );
        assert!(ma.windows(2).all(|w| w[0].id < w[1].id));
        let open = ma.iter().filter(|m| m.status() == "open").count();
        let cancelled = ma.iter().filter(|m| m.status() == "cancelled").count();
        assert!((1300..1500).contains(&open), "{open}");
        assert!((50..150).contains(&cancelled), "{cancelled}");
    }

    #[test]
    fn decimal_strings() {
        assert_eq!(money_gql(5500), "55.0");
        assert_eq!(money_gql(2598), "25.98");
        assert_eq!(money_gql(1250), "12.5");
        assert_eq!(money_rest(500), "5.00");
    }
}
