#!/usr/bin/env python3
# A copy of the workplace's shared/bench/gen_orders.py, used as the load bench's data (benches/benches/load.rs).
"""Deterministic generator of Shopify-like orders (stdlib only).

Writes N orders as JSON Lines (nested: customer{}, line_items[], shipping_address{})
and, optionally, the equivalent flat CSV with the 12 columns a DataForge pipeline
produces after flattening + casts:

  id, order_number, email, created_at, total_price, currency, financial_status,
  customer_id, customer_name, line_item_count, total_quantity, tags

CSV conventions (PostgreSQL CSV format): header row; NULL = unquoted empty field;
empty string = quoted "" ; fields with , " CR LF or leading/trailing space are quoted.

Same --n/--seed always gives byte-identical output.

  python3 gen_orders.py --n 100000 --seed 42 --jsonl orders.jsonl --csv orders.csv
"""
import argparse
import json
import random
import sys

FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
         "David", "Elizabeth", "William", "Susan", "Sarah", "Daniel", "Emily", "Chris",
         "José", "Zoë", "Björn", "Łukasz", "François", "Siobhán", "Chloé", "Mårten",
         "Ngọc", "陈", "Ольга", "Søren", "Aoife", "Hiroshi", "Priya", "Renée"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Clark",
        "Müller", "Núñez", "O'Brien", "Øyvindsen", "Dvořák", "Żółć", "王", "Иванова",
        "van der Berg", "D'Angelo", "Nakamura", "Kowalski", "Schäfer", "Nguyễn"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com",
           "proton.me", "example.com", "shop.co.uk", "web.de", "mail.ru"]
ASCII_HANDLES = ["alex", "sam", "jo", "kim", "max", "lee", "pat", "robin", "casey", "drew",
                 "jordan", "taylor", "morgan", "riley", "jamie", "quinn"]
ADJ = ["Classic", "Organic", "Vintage", "Deluxe", "Eco", "Mini", "Premium", "Handmade",
       "Café", "Jalapeño", "Nordic", "Sakura 桜", "Crème", "Ünïcode 🎉", "Everyday", "Limited"]
NOUN = ["Mug", "T-Shirt", "Hoodie", "Socks", "Tote Bag", "Candle", "Notebook", "Hot Sauce",
        "Tea Set", "Cap", "Poster", "Water Bottle", "Soap", "Scarf", "Backpack", "Sticker Pack"]
VENDORS = ["Acme Co", "Bergström & Söhne", "Northwind", "Hōkū Goods", "Lumen Labs", "Maison Élise"]
CURRENCIES = [("USD", 70), ("CAD", 8), ("EUR", 10), ("GBP", 7), ("AUD", 5)]
FIN_STATUS = [("paid", 790), ("pending", 80), ("refunded", 40), ("partially_refunded", 30),
              ("authorized", 45), ("voided", 10), (None, 5)]
TAGS = ["vip", "wholesale", "repeat", "first-order", "gift", "subscription", "b2b",
        "Black Friday", "influencer", "ñandú", "pre-order", "local pickup"]
NOTES = ["Please leave at the door.", "Gift \"wrap\" please!", "Call before delivery,\nthanks",
         "Bitte nicht klingeln", "配達前に電話してください", "No plastic 🙏", "Fragile; handle with care"]
CITIES = [("Portland", "OR", "US", "97201"), ("Toronto", "ON", "CA", "M5V 2T6"),
          ("Berlin", "BE", "DE", "10115"), ("London", "ENG", "GB", "SW1A 1AA"),
          ("Sydney", "NSW", "AU", "2000"), ("Austin", "TX", "US", "73301"),
          ("Montréal", "QC", "CA", "H2X 1Y4"), ("Málaga", "AN", "ES", "29001")]
OFFSETS = ["-08:00", "-07:00", "-05:00", "-04:00", "+00:00", "+01:00", "+02:00", "+05:30", "+09:00", "+10:00"]
# 2022-01-01 .. 2024-12-31 as days since epoch
DAY0 = 18993
NDAYS = 1096

COLUMNS = ["id", "order_number", "email", "created_at", "total_price", "currency",
           "financial_status", "customer_id", "customer_name", "line_item_count",
           "total_quantity", "tags"]


def _weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def _civil_from_days(z):
    # Howard Hinnant's algorithm (days since 1970-01-01 -> y, m, d), no datetime needed
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _money(cents):
    return "%d.%02d" % divmod(cents, 100)


def make_catalog(rng):
    cat = []
    for i in range(240):
        title = "%s %s" % (rng.choice(ADJ), rng.choice(NOUN))
        cat.append({
            "product_id": 7_000_000_000_000 + i * 137,
            "variant_id": 40_000_000_000_000 + i * 911,
            "title": title,
            "sku": None if rng.random() < 0.08 else "SKU-%05d" % (i * 7 + 3),
            "vendor": rng.choice(VENDORS),
            "price_cents": rng.choice([499, 999, 1250, 1499, 1999, 2450, 2999, 3999, 4999, 7999, 12900]),
            "grams": rng.choice([50, 120, 250, 400, 800, 1500]),
        })
    return cat


def make_order(rng, i, cat):
    oid = 5_100_000_000_000 + i * 10 + rng.randrange(10)
    day = DAY0 + rng.randrange(NDAYS)
    y, m, d = _civil_from_days(day)
    secs = rng.randrange(86400)
    created_at = "%04d-%02d-%02dT%02d:%02d:%02d%s" % (
        y, m, d, secs // 3600, (secs // 60) % 60, secs % 60, rng.choice(OFFSETS))
    currency = _weighted(rng, CURRENCIES)

    # customer (2% guest checkouts without a customer object)
    if rng.random() < 0.02:
        customer = None
        first = last = None
    else:
        first = None if rng.random() < 0.01 else rng.choice(FIRST)
        last = rng.choice(LAST)
        handle = rng.choice(ASCII_HANDLES)
        cemail = "%s.%s%d@%s" % (handle, "x" if last is None else
                                 "".join(c for c in last.lower() if c.isascii() and c.isalpha()) or "user",
                                 rng.randrange(1000), rng.choice(DOMAINS))
        customer = {
            "id": 6_200_000_000_000 + rng.randrange(5_000_000),
            "email": cemail,
            "first_name": first,
            "last_name": last,
            "orders_count": rng.randrange(1, 40),
            "accepts_marketing": rng.random() < 0.3,
            "created_at": "%04d-%02d-%02dT08:00:00+00:00" % _civil_from_days(day - rng.randrange(700)),
        }
    r = rng.random()
    if r < 0.03:
        email = None
    elif customer is not None:
        email = customer["email"]
    else:
        email = "guest%d+order@%s" % (rng.randrange(100000), rng.choice(DOMAINS))

    nitems = _weighted(rng, [(1, 45), (2, 25), (3, 15), (4, 9), (5, 6)])
    items = []
    subtotal = 0
    for j in range(nitems):
        p = cat[rng.randrange(len(cat))]
        qty = _weighted(rng, [(1, 70), (2, 20), (3, 6), (4, 4)])
        disc = 0 if rng.random() < 0.85 else p["price_cents"] * qty // 10
        subtotal += p["price_cents"] * qty - disc
        items.append({
            "id": 13_000_000_000_000 + i * 8 + j,
            "product_id": p["product_id"],
            "variant_id": p["variant_id"],
            "title": p["title"],
            "sku": p["sku"],
            "vendor": p["vendor"],
            "quantity": qty,
            "price": _money(p["price_cents"]),
            "total_discount": _money(disc),
            "grams": p["grams"],
            "taxable": rng.random() < 0.9,
            "requires_shipping": rng.random() < 0.95,
            "fulfillment_status": None if rng.random() < 0.6 else "fulfilled",
        })
    tax = subtotal * rng.choice([0, 5, 8, 13, 19, 20]) // 100
    shipping = rng.choice([0, 0, 499, 899, 1500])
    total = subtotal + tax + shipping

    ntags = _weighted(rng, [(0, 40), (1, 35), (2, 18), (3, 7)])
    tags = ", ".join(sorted(rng.sample(TAGS, ntags)))

    if rng.random() < 0.1:
        shipping_address = None
    else:
        city, prov, country, zipc = rng.choice(CITIES)
        shipping_address = {
            "first_name": first, "last_name": last,
            "address1": "%d %s" % (rng.randrange(1, 9999), rng.choice(["Main St", "Hauptstraße 5", "Rue de l'Église", "High Street"])),
            "address2": None, "city": city, "province_code": prov, "country_code": country, "zip": zipc,
        }

    return {
        "id": oid,
        "admin_graphql_api_id": "gid://shopify/Order/%d" % oid,
        "order_number": 1001 + i,
        "name": "#%d" % (1001 + i),
        "email": email,
        "created_at": created_at,
        "updated_at": created_at,
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": _weighted(rng, FIN_STATUS),
        "fulfillment_status": None if rng.random() < 0.5 else "fulfilled",
        "subtotal_price": _money(subtotal),
        "total_tax": _money(tax),
        "total_price": _money(total),
        "total_discounts": _money(sum(int(x["total_discount"].replace(".", "")) for x in items)),
        "taxes_included": False,
        "test": False,
        "note": None if rng.random() < 0.85 else rng.choice(NOTES),
        "tags": tags,
        "customer": customer,
        "line_items": items,
        "shipping_address": shipping_address,
    }


def flatten_text(o):
    """Order dict -> 12 flat values as text-or-None (the CSV row). Must match
    flatten.flatten() in the loaders."""
    c = o["customer"]
    if c is None:
        cid = cname = None
    else:
        cid = c["id"]
        cname = " ".join(x for x in (c["first_name"], c["last_name"]) if x) or None
    li = o["line_items"]
    return (o["id"], o["order_number"], o["email"], o["created_at"], o["total_price"],
            o["currency"], o["financial_status"], cid, cname, len(li),
            sum(x["quantity"] for x in li), o["tags"])


def csv_field(v):
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if s == "" or any(ch in s for ch in ',"\r\n') or s[0] == " " or s[-1] == " ":
        return '"' + s.replace('"', '""') + '"'
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--jsonl", help="output JSON Lines path")
    ap.add_argument("--csv", help="output flat CSV path")
    a = ap.parse_args(argv)
    if not a.jsonl and not a.csv:
        ap.error("give --jsonl and/or --csv")
    rng = random.Random(a.seed)
    cat = make_catalog(rng)
    fj = open(a.jsonl, "w", encoding="utf-8", newline="\n") if a.jsonl else None
    fc = open(a.csv, "w", encoding="utf-8", newline="\n") if a.csv else None
    if fc:
        fc.write(",".join(COLUMNS) + "\n")
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for i in range(a.n):
        o = make_order(rng, i, cat)
        if fj:
            fj.write(dumps(o))
            fj.write("\n")
        if fc:
            fc.write(",".join(csv_field(v) for v in flatten_text(o)))
            fc.write("\n")
    for f in (fj, fc):
        if f:
            f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
