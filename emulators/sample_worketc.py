"""Deterministic sample WORKetc export (../shared/formats/worketc-csv.md), with realistic dirt.

    python -m emulators.sample_worketc --out out/export --companies 500 --seed 7 [--large-file-mb 12]

writes every contract file plus ``files/`` into ``--out``; the Dynamics 365 users the customer's
administrator has provisioned (most, not all, WORKetc users) to ``--users-out`` (default
``<out>/../provisioned_users.json``, a JSON list of ``{"internalemailaddress", "fullname"}``), and
``<out>/../expected_dirt.json``: which ids carry which dirt, and how many records every file holds.

The same seed and options give byte-identical output. Nothing depends on the clock, on hash
ordering or on the platform. Each file draws from its own random stream, so a change to one file's
generator does not reshuffle the others.

Conventions of the sample (real exports may differ): ``DateCreated``/``DateModified`` and other
date-times are ISO 8601 local times without an offset (``2023-04-05T09:30:00``); date-only fields are
ISO ``yyyy-mm-dd``; custom *Date* fields are ``dd/mm/yyyy`` as WORKetc shows them. ``companies.csv``
starts with a UTF-8 BOM (as Excel-friendly exports do); the others do not.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import struct
import sys
import zipfile
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

MiB = 1024 * 1024
MIN_COMPANIES = 30

# ------------------------------------------------------------------------------- vocabularies

FIRST = ("James Olivia William Charlotte Jack Amelia Noah Isla Thomas Mia Lucas Grace Henry Chloe Oliver Ava Leo "
         "Sophie Ethan Ruby Liam Emily Samuel Zoe Daniel Hannah Matthew Ella Benjamin Lily Harrison Sienna "
         "Cooper Matilda Max Evie Alexander Harper Ryan Georgia Priya Wei Mei Arjun Sakura Mohammed Fatima "
         "Nguyen Tane Aroha").split()
LAST = ("Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen Thomas Walker "
        "Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson Clarke Patel "
        "Khan Lewis James Phillips Mitchell Chen Singh Campbell Scott Young Edwards Turner Hughes Murphy "
        "Baker Morris Cook Bell Murray").split()
WORDS1 = ("Apex Harbour Southern Blue Gum Coastal Summit Redgum Ironbark Pacific Outback Kestrel Bluewater "
          "Granite Silver Wattle Banksia Kookaburra Sandstone Meridian Horizon Northgate Riverbend Eastside "
          "Lighthouse Saltbush Acacia Jarrah Brolga Emu Plains").split()
WORDS2 = ("Plumbing Electrical Consulting Logistics Builders Accounting Legal Design Engineering Media Dental "
          "Physio Landscaping Roofing Solar Catering Freight Marketing Software Realty Automotive Joinery "
          "Vet Clinic Hospitality Security Cleaning Architecture Surveying Printing").split()
SUFFIX = ("Pty Ltd", "Pty Ltd", "Pty Ltd", "Group", "Co", "& Sons", "Partners", "Services", "Ltd")
INDUSTRIES = ("Construction", "Professional Services", "Healthcare", "Retail", "Hospitality", "Manufacturing",
              "Technology", "Education", "Transport & Logistics", "Real Estate", "Agriculture", "Finance")
CITIES = (("Sydney", "NSW", "2000"), ("Parramatta", "NSW", "2150"), ("Newcastle", "NSW", "2300"),
          ("Melbourne", "VIC", "3000"), ("Geelong", "VIC", "3220"), ("Brisbane", "QLD", "4000"),
          ("Gold Coast", "QLD", "4217"), ("Perth", "WA", "6000"), ("Adelaide", "SA", "5000"),
          ("Hobart", "TAS", "7000"), ("Canberra", "ACT", "2600"), ("Darwin", "NT", "0800"))
NZ_CITIES = (("Auckland", "Auckland", "1010"), ("Wellington", "Wellington", "6011"))
STREETS = ("George St", "Pitt St", "Collins St", "Queen St", "King William St", "Hay St", "Murray St",
           "Elizabeth St", "Flinders Lane", "Ann St", "Macquarie St", "Victoria Rd", "Church St", "High St")
JOBS = ("Director", "Office Manager", "Accounts Payable", "Operations Manager", "Project Manager",
        "General Manager", "Practice Manager", "Owner", "IT Manager", "Purchasing Officer", "CFO", "Receptionist")
LIFECYCLE = ("Subscriber", "Lead", "Opportunity", "Customer", "Customer", "Customer", "Evangelist", "Other")
LEAD_STATUS = ("New", "Contacted", "Qualified", "Unqualified", "Converted")
LEAD_SOURCE = ("Website", "Referral", "Trade Show", "Cold Call", "Partner", "Advertisement")
DEAL_STAGES = (("Prospecting", 10), ("Qualification", 25), ("Proposal", 50), ("Negotiation", 75),
               ("Closed Won", 100), ("Closed Lost", 0))
PRODUCTS = ("Annual Support", "Website Rebuild", "Fit-out", "Managed Services", "Audit", "Training Package",
            "Hardware Refresh", "Retainer", "Implementation", "Maintenance Contract")
WIN = ("Price", "Relationship", "Product fit", "Referral")
LOSS = ("Price too high", "Went with competitor", "No budget", "No decision", "Timing")
PROJECT_TYPES = {
    "Website Build": (("Discovery", 10), ("Design", 25), ("Build", 40), ("Testing", 15), ("Launch", 10)),
    "Office Fit-out": (("Site Survey", 15), ("Quote Approval", 10), ("Procurement", 20), ("Installation", 45),
                       ("Handover", 10)),
    "Managed Services Onboarding": (("Kick-off", 20), ("Audit", 30), ("Migration", 35), ("Go Live", 15)),
}
TICKET_STATUS = ("Open", "In Progress", "Waiting on Customer", "Resolved", "Closed", "Closed")
PRIORITY = ("Low", "Normal", "Normal", "High", "Urgent")
TICKET_SUBJECTS = ("Cannot log in to portal", "Invoice query", "Printer offline again", "Email bounce-backs",
                   "Request for quote", "Slow network at site", "Change of address", "Password reset",
                   "Warranty claim", "Site access for technician")
INVOICE_STATUS = ("Draft", "Sent", "Paid", "Paid", "Paid", "Overdue", "Void")
ROLES = ("Administrator", "Manager", "Staff", "Sales", "Support", "Accounts")
ACTIVITY_TYPES = ("Call", "Email", "Meeting", "Task", "Note")
KB_CATEGORIES = ("Getting Started", "Billing", "Troubleshooting", "Policies", "How-to")

CUSTOM_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    # (Object, Label, Type, Options)
    ("Company", "Account Tier", "Dropdown", "Bronze|Silver|Gold|Platinum"),
    ("Company", "ABN", "Text", ""),
    ("Company", "Customer Since", "Date", ""),
    ("Company", "Annual Revenue (AUD)", "Number", ""),
    ("Company", "VIP", "Checkbox", ""),
    ("Company", "Support Notes", "TextArea", ""),
    ("Contact", "Preferred Contact Method", "Dropdown", "Email|Phone|SMS|Post"),
    ("Contact", "Birthday", "Date", ""),
    ("Contact", "Newsletter", "Checkbox", ""),
    ("Contact", "LinkedIn", "Text", ""),
    ("Lead", "Campaign", "Dropdown", "EOFY Sale|Spring Expo|Webinar Series|Partner Referral"),
    ("Lead", "Budget Estimate", "Number", ""),
    ("Deal", "Deal Type", "Dropdown", "New Business|Renewal|Upsell"),
    ("Deal", "Contract Length (months)", "Number", ""),
    ("Deal", "Renewal Date", "Date", ""),
    ("Deal", "Requires Legal Review", "Checkbox", ""),
    ("Deal", "Internal Notes", "TextArea", ""),
    ("Project", "Billing Type", "Dropdown", "Fixed Price|Time & Materials|Retainer"),
    ("Project", "Site Visit Required", "Checkbox", ""),
    ("Ticket", "Product Area", "Dropdown", "Hardware|Software|Network|Billing|Other"),
    ("Invoice", "PO Number", "Text", ""),
)

WORKFLOWS = (
    ("New web lead follow-up", "Lead created (Source = Website)",
     "Status = New, Score >= 50", "Assign to sales round-robin; send template 'Thanks for your enquiry'", "Yes"),
    ("Overdue invoice reminder", "Daily 9:00 AM", "Invoice Status = Overdue, DueDate < today - 7 days",
     "Email contact 'Friendly reminder'\nCreate Task for Accounts: 'Call re overdue invoice'", "Yes"),
    ("Urgent ticket escalation", "Ticket created or updated", "Priority = Urgent, Status != Closed",
     "Notify support manager by SMS; add watcher \"On-call tech\"", "Yes"),
    ("Deal won -> project", "Deal status changes to Won", "Deal Type = New Business",
     "Create Project (type from deal), copy CompanyID, DealID", "Yes"),
    ("Birthday card", "Daily 7:00 AM", "Contact Birthday = today, Newsletter = Yes",
     "Send email template 'Happy birthday'", "No"),
    ("Ticket auto-close", "Daily 11:00 PM", "Status = Waiting on Customer, no reply for 14 days",
     "Set Status = Closed; email contact 'We closed your ticket, reply to reopen'", "Yes"),
    ("Web form: Contact us", "Web form submitted", "",
     "Create Lead, Source = Website; notify sales@", "Yes"),
    ("Renewal reminder", "Deal Renewal Date in 60 days", "Status = Won",
     "Create Deal 'Renewal', Stage = Prospecting, owner = original owner", "Yes"),
)

BASE = datetime(2019, 1, 7, 8, 0, 0)  # all dates are offsets from here: no clock involved
SPAN_DAYS = 6 * 365


# ------------------------------------------------------------------------------------ helpers

def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"worketc-sample:{seed}:{stream}")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _dmy(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _dmy_hm(dt: datetime) -> str:
    return dt.strftime("%d/%m/%Y %H:%M")


def _when(rng: random.Random, start: datetime = BASE, days: int = SPAN_DAYS) -> datetime:
    return start + timedelta(minutes=rng.randrange(days * 24 * 60 // 15) * 15)


def _money(x: float) -> str:
    return f"{x:.2f}"


def _slug(text: str) -> str:
    s = "".join(c for c in text.lower() if c.isascii() and c.isalnum())
    return s[:24] or "company"


def _phone(rng: random.Random) -> str:
    return f"+61 {rng.choice('2378')} {rng.randrange(8000, 9999)} {rng.randrange(1000, 9999)}"


def _mobile(rng: random.Random) -> str:
    return f"04{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"


class _Picker:
    """Hands out distinct indices in a deterministic order, so no record carries two kinds of dirt."""

    def __init__(self, rng: random.Random, n: int, avoid: Iterable[int] = ()):
        avoid = set(avoid)
        self.order = [i for i in range(n) if i not in avoid] or list(range(n))
        rng.shuffle(self.order)
        self.pos = 0

    def take(self, k: int) -> list[int]:
        if self.pos + k > len(self.order):
            raise ValueError("not enough records for the dirt; use more companies")
        self.pos += k
        return self.order[self.pos - k:self.pos]


class _Table:
    def __init__(self, name: str, header: list[str]):
        self.name = name
        self.header = header
        self.rows: list[list[str]] = []


def _write(out: Path, table: _Table, bom: bool = False) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(table.header)
    w.writerows(table.rows)
    data = buf.getvalue().encode("utf-8")
    (out / table.name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


# ------------------------------------------------------------------------------ file contents

def _png(rng: random.Random, w: int = 16, h: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    r, g, b = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    raw = b"".join(b"\x00" + bytes((r, g, b)) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _pdf(text: str) -> bytes:
    content = f"BT /F1 14 Tf 72 720 Td ({text.encode('ascii', 'replace').decode()}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def _document(rng: random.Random, i: int, company: str) -> tuple[str, str, bytes]:
    """(file name, mime type, bytes) of the i-th small document: the kinds rotate."""
    kind = i % 8
    n = rng.randrange(1000, 99999)
    if kind == 0:
        return (f"Quote {n}.pdf", "application/pdf", _pdf(f"Quote {n} for {company}"))
    if kind == 1:
        return (f"Site photo {n}.png", "image/png", _png(rng))
    if kind == 2:
        body = f"Meeting notes - {company}\r\n\r\n- Agreed scope\r\n- Next steps: call back Tuesday\r\n"
        return (f"Notes {n}.txt", "text/plain", body.encode("utf-8"))
    if kind == 3:
        rows = "\r\n".join(f"{j},Item {j},{rng.randrange(1, 500)}.00" for j in range(1, rng.randrange(3, 30)))
        return (f"Price list {n}.csv", "text/csv", ("Line,Item,Price\r\n" + rows + "\r\n").encode())
    if kind == 4:
        data = _zip({"readme.txt": f"Archive for {company}".encode(), "data/values.json": b'{"n": %d}' % n})
        return (f"Archive {n}.zip", "application/zip", data)
    if kind == 5:
        html = f"<html><body><h1>Proposal</h1><p>For {company} &amp; partners.</p></body></html>"
        return (f"Proposal {n}.html", "text/html", html.encode("utf-8"))
    if kind == 6:
        return (f"Export {n}.json", "application/json",
                json.dumps({"company": company, "n": n}, ensure_ascii=False).encode("utf-8"))
    blob = rng.randbytes(rng.randrange(2000, 60000))
    return (f"Scan {n}.bin", "application/octet-stream", blob)


# ------------------------------------------------------------------------------------ the export

def generate(out: str | Path, companies: int = 100, seed: int = 1, *, large_file_mb: int = 0,
             users_out: str | Path | None = None, dirt_out: str | Path | None = None) -> dict[str, Any]:
    """Write a complete export into ``out``; returns the expected-dirt summary (also written as JSON)."""
    if companies < MIN_COMPANIES:
        raise ValueError(f"companies must be at least {MIN_COMPANIES} (the dirt needs room)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "files").mkdir(exist_ok=True)
    users_out = Path(users_out) if users_out else out.parent / "provisioned_users.json"
    dirt_out = Path(dirt_out) if dirt_out else out.parent / "expected_dirt.json"
    N = companies
    k = 2 + min(3, N // 200)  # how many records carry each kind of dirt: "a handful"
    dirt: dict[str, Any] = {
        "seed": seed, "companies": N, "notes": [
            "DateCreated/DateModified are ISO local times (no offset) except the ddmmyyyy_dates entries",
            "custom Date fields are dd/mm/yyyy; custom Checkbox fields are Yes/No",
            "companies.csv starts with a UTF-8 BOM",
        ],
        "orphan_contacts": [], "contacts_without_company": [], "bad_emails": [],
        "duplicate_ids": {"companies.csv": [], "contacts.csv": []}, "overlong": [], "apostrophes": [],
        "umlauts": [], "emoji": [], "commas_and_newlines": [], "unprovisioned_users": [], "inactive_users": [],
        "owner_email_case_mismatch": [], "records_with_unprovisioned_owner": [],
        "records_with_inactive_owner": [], "ddmmyyyy_dates": [], "dropdown_not_in_options": [],
        "contractors_without_email": [], "large_files": [], "counts": {},
    }
    cf_labels = {obj: [c for c in CUSTOM_FIELDS if c[0] == obj] for obj in
                 ("Company", "Contact", "Lead", "Deal", "Project", "Ticket", "Invoice")}

    def custom_values(rng: random.Random, obj: str) -> list[str]:
        vals = []
        for _, label, typ, options in cf_labels[obj]:
            if rng.random() < 0.3:
                vals.append("")
            elif typ == "Dropdown":
                vals.append(rng.choice(options.split("|")))
            elif typ == "Text":
                vals.append(f"{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)} "
                            f"{rng.randrange(100, 999)}" if label == "ABN" else
                            f"https://www.linkedin.com/in/user{rng.randrange(10**6)}" if label == "LinkedIn"
                            else f"PO-{rng.randrange(10**5):05d}")
            elif typ == "TextArea":
                vals.append(rng.choice(("Prefers morning calls.", "Key account, see contract.\nReview yearly.",
                                        "Gate code 1234, ask for \"Bruce\" at reception.")))
            elif typ == "Date":
                vals.append(_dmy(_when(rng, datetime(1960, 1, 1), 60 * 365).date()))
            elif typ == "Number":
                vals.append(str(rng.choice((6, 12, 24, 36))) if "months" in label
                            else _money(rng.randrange(1000, 5_000_000) / 1.0))
            else:
                vals.append(rng.choice(("Yes", "No")))
        return vals

    # ---------------------------------------------------------------------------------- users
    rng = _rng(seed, "users")
    U = max(10, N // 150)
    users = _Table("users.csv", ["EntityID", "Name", "Email", "Role", "Active"])
    user_rows = []
    for i in range(U):
        first, last = FIRST[(i * 7 + 3) % len(FIRST)], LAST[(i * 11 + 5) % len(LAST)]
        email = f"{first.lower()}.{last.lower()}{i + 1}@acme-services.com.au"
        user_rows.append([str(i + 1), f"{first} {last}", email, ROLES[i % len(ROLES)], "Yes"])
    # the last four: two active users the admin has not provisioned, two who left (inactive)
    unprov = [U - 4, U - 3]
    inactive = [U - 2, U - 1]
    for i in inactive:
        user_rows[i][4] = "No"
    case_user = 1  # WORKetc shows this e-mail in mixed case; Dynamics 365 has it in lower case
    user_rows[case_user][2] = user_rows[case_user][2].title().replace("@Acme-Services.Com.Au", "@ACME-Services.com.au")
    users.rows = user_rows
    provisioned = [{"internalemailaddress": r[2].lower(), "fullname": r[1]}
                   for i, r in enumerate(user_rows) if i not in unprov and i not in inactive]
    owners = [r[2] for i, r in enumerate(user_rows) if i not in unprov and i not in inactive]
    dirt["unprovisioned_users"] = [user_rows[i][2] for i in unprov + inactive]
    dirt["inactive_users"] = [user_rows[i][2] for i in inactive]
    dirt["owner_email_case_mismatch"] = [user_rows[case_user][2]]
    _write(out, users)

    # ------------------------------------------------------------------------------ companies
    rng = _rng(seed, "companies")
    pick = _Picker(rng, N)
    comp_hdr = list(("EntityID Name Website Email Phone Fax Address1 Address2 City State PostCode Country "
                     "Industry OwnerEmail DateCreated DateModified").split()) + [c[1] for c in cf_labels["Company"]]
    comp = _Table("companies.csv", comp_hdr)
    cids: list[str] = []
    cnames: list[str] = []
    cdomains: list[str] = []
    for i in range(N):
        cid = str(10001 + i)
        name = f"{rng.choice(WORDS1)} {rng.choice(WORDS2)} {rng.choice(SUFFIX)}"
        nz = rng.random() < 0.05
        city, state, pc = rng.choice(NZ_CITIES if nz else CITIES)
        created = _when(rng)
        modified = created + timedelta(days=rng.randrange(0, 700), minutes=rng.randrange(0, 600))
        domain = f"{_slug(name)}{i + 1}.com.au"
        addr1 = (f"Level {rng.randrange(1, 30)}, {rng.randrange(1, 400)} {rng.choice(STREETS)}"
                 if rng.random() < 0.3 else f"{rng.randrange(1, 400)} {rng.choice(STREETS)}")
        row = [cid, name, f"https://www.{domain}" if rng.random() < 0.8 else "",
               f"info@{domain}" if rng.random() < 0.7 else "", _phone(rng),
               _phone(rng) if rng.random() < 0.15 else "", addr1,
               f"Unit {rng.randrange(1, 20)}" if rng.random() < 0.1 else "", city, state, pc,
               "New Zealand" if nz else "Australia", rng.choice(INDUSTRIES), rng.choice(owners),
               _iso(created), _iso(modified)] + custom_values(rng, "Company")
        comp.rows.append(row)
        cids.append(cid)
        cnames.append(name)
        cdomains.append(domain)
    C = {h: j for j, h in enumerate(comp_hdr)}

    def cset(i: int, col: str, value: str) -> None:
        comp.rows[i][C[col]] = value
        if col == "Name":
            cnames[i] = value

    for i, name in zip(pick.take(2), ("Dave's Plumbing & Gas", "O'Connor Bros Pty Ltd")):
        cset(i, "Name", name)
        dirt["apostrophes"].append({"file": "companies.csv", "id": cids[i], "column": "Name", "value": name})
    for i, name in zip(pick.take(2), ("Bäckerei Größe GmbH", "Müller & Söhne Engineering")):
        cset(i, "Name", name)
        dirt["umlauts"].append({"file": "companies.csv", "id": cids[i], "column": "Name", "value": name})
    for i, name in zip(pick.take(2), ("Rocket Labs 🚀", "Café ☕ Collective")):
        cset(i, "Name", name)
        dirt["emoji"].append({"file": "companies.csv", "id": cids[i], "column": "Name", "value": name})
    (i,) = pick.take(1)
    cset(i, "Name", "Smith, Jones & Partners")
    dirt["commas_and_newlines"].append({"file": "companies.csv", "id": cids[i], "column": "Name"})
    for i in pick.take(k):
        cset(i, "Address1", f"Suite {i % 9 + 1}\nLevel 2, {i % 300 + 1} George St")
        dirt["commas_and_newlines"].append({"file": "companies.csv", "id": cids[i], "column": "Address1"})
    for j, i in enumerate(pick.take(2)):
        long = ("The Consolidated Southern Hemisphere Mechanical, Electrical, Hydraulic and Fire Services "
                "Contractors and Maintenance Specialists of Greater Western Sydney and the Blue Mountains "
                f"Region Pty Ltd (Trustee for the Family Trust No. {j + 1})")
        cset(i, "Name", long)
        dirt["overlong"].append({"file": "companies.csv", "id": cids[i], "column": "Name", "length": len(long)})
    for i, bad in zip(pick.take(2), ("accounts@@{d}", "info@{d} ; sales@{d}")):
        v = bad.format(d=cdomains[i])
        cset(i, "Email", v)
        dirt["bad_emails"].append({"file": "companies.csv", "id": cids[i], "column": "Email", "value": v})
    for i in pick.take(k):
        cset(i, "OwnerEmail", user_rows[unprov[i % 2]][2])
        dirt["records_with_unprovisioned_owner"].append(
            {"file": "companies.csv", "id": cids[i], "owner": user_rows[unprov[i % 2]][2]})
    for i in pick.take(k):
        cset(i, "OwnerEmail", user_rows[inactive[i % 2]][2])
        dirt["records_with_inactive_owner"].append(
            {"file": "companies.csv", "id": cids[i], "owner": user_rows[inactive[i % 2]][2]})
    for i in pick.take(k):
        dt = datetime(2021, rng.randrange(1, 13), rng.randrange(13, 29), rng.randrange(8, 18), 30)
        cset(i, "DateCreated", _dmy_hm(dt))
        dirt["ddmmyyyy_dates"].append({"file": "companies.csv", "id": cids[i], "column": "DateCreated",
                                       "value": _dmy_hm(dt)})
    for i in pick.take(k):
        cset(i, "Account Tier", "Diamond" if i % 2 else "Platinum Plus")
        dirt["dropdown_not_in_options"].append({"file": "companies.csv", "id": cids[i], "column": "Account Tier",
                                                "value": comp.rows[i][C["Account Tier"]]})
    # a duplicate EntityID: the same company exported twice, the second copy edited later
    (i,) = pick.take(1)
    dup = list(comp.rows[i])
    dup[C["Phone"]] = _phone(rng)
    dup[C["DateModified"]] = _iso(BASE + timedelta(days=SPAN_DAYS + 30))
    comp.rows.insert(min(len(comp.rows), i + 1 + rng.randrange(5, 50)), dup)
    dirt["duplicate_ids"]["companies.csv"].append(cids[i])
    _write(out, comp, bom=True)

    # ------------------------------------------------------------------------------- contacts
    rng = _rng(seed, "contacts")
    cont_hdr = ("EntityID FirstName LastName Email Phone Mobile JobTitle CompanyID Address1 City State PostCode "
                "Country LifecycleStage OwnerEmail DateCreated DateModified").split() + [c[1] for c in
                                                                                         cf_labels["Contact"]]
    cont = _Table("contacts.csv", cont_hdr)
    K = {h: j for j, h in enumerate(cont_hdr)}
    contacts_of: list[list[str]] = [[] for _ in range(N)]
    ct_company: list[int] = []
    nid = 200001
    for ci in range(N):
        for _ in range(rng.choice((1, 2, 3, 3, 4, 5))):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = _when(rng)
            city, state, pc = rng.choice(CITIES)
            cid = str(nid)
            nid += 1
            row = [cid, first, last, f"{first.lower()}.{last.lower()}@{cdomains[ci]}",
                   _phone(rng) if rng.random() < 0.6 else "", _mobile(rng) if rng.random() < 0.7 else "",
                   rng.choice(JOBS), cids[ci], f"{rng.randrange(1, 400)} {rng.choice(STREETS)}"
                   if rng.random() < 0.4 else "", city, state, pc, "Australia", rng.choice(LIFECYCLE),
                   rng.choice(owners), _iso(created), _iso(created + timedelta(days=rng.randrange(0, 400)))
                   ] + custom_values(rng, "Contact")
            cont.rows.append(row)
            contacts_of[ci].append(cid)
            ct_company.append(ci)
    M = len(cont.rows)
    pick = _Picker(rng, M)

    def kset(i: int, col: str, value: str) -> None:
        cont.rows[i][K[col]] = value

    def kid(i: int) -> str:
        return cont.rows[i][0]

    def detach(i: int) -> None:
        ci = ct_company[i]
        if kid(i) in contacts_of[ci]:
            contacts_of[ci].remove(kid(i))

    for j, i in enumerate(pick.take(k)):
        detach(i)
        kset(i, "CompanyID", str(99990001 + j))
        dirt["orphan_contacts"].append(kid(i))
    for i in pick.take(k):
        detach(i)
        kset(i, "CompanyID", "")
        dirt["contacts_without_company"].append(kid(i))
    for i, last in zip(pick.take(3), ("O'Brien", "O'Neill", "D'Angelo")):
        kset(i, "LastName", last)
        kset(i, "Email", f"{cont.rows[i][K['FirstName']].lower()}.{last.lower()}@{cdomains[ct_company[i]]}")
        dirt["apostrophes"].append({"file": "contacts.csv", "id": kid(i), "column": "LastName", "value": last})
    for i, (first, last) in zip(pick.take(3), (("Jürgen", "Müller"), ("Zoë", "Bäcker"), ("Siân", "Ó Súilleabháin"))):
        kset(i, "FirstName", first)
        kset(i, "LastName", last)
        dirt["umlauts"].append({"file": "contacts.csv", "id": kid(i), "column": "LastName", "value": last})
    bad_emails = ("john.smith@", "jane.doe at example.com", "bob@@example.com", "mary@example..com",
                  "sales@", "chris@gmail", ".kate@example.com")
    for j, i in enumerate(pick.take(max(k, 4))):
        v = bad_emails[j % len(bad_emails)]
        kset(i, "Email", v)
        dirt["bad_emails"].append({"file": "contacts.csv", "id": kid(i), "column": "Email", "value": v})
    for i, title in zip(pick.take(2), ("Chief Happiness Officer 😀", "Head of Growth 🚀📈")):
        kset(i, "JobTitle", title)
        dirt["emoji"].append({"file": "contacts.csv", "id": kid(i), "column": "JobTitle", "value": title})
    for i in pick.take(2):
        v = "Director, Sales & Marketing\n(Asia-Pacific)"
        kset(i, "JobTitle", v)
        dirt["commas_and_newlines"].append({"file": "contacts.csv", "id": kid(i), "column": "JobTitle"})
    for i in pick.take(2):
        v = ("Senior Regional Operations, Logistics, Procurement and Supply Chain Integration Manager for "
             "Australia, New Zealand and the Pacific Islands")
        kset(i, "JobTitle", v)
        dirt["overlong"].append({"file": "contacts.csv", "id": kid(i), "column": "JobTitle", "length": len(v)})
    for i in pick.take(k):
        o = user_rows[unprov[i % 2]][2]
        kset(i, "OwnerEmail", o)
        dirt["records_with_unprovisioned_owner"].append({"file": "contacts.csv", "id": kid(i), "owner": o})
    for i in pick.take(k):
        o = user_rows[inactive[i % 2]][2]
        kset(i, "OwnerEmail", o)
        dirt["records_with_inactive_owner"].append({"file": "contacts.csv", "id": kid(i), "owner": o})
    for i in pick.take(k):
        dt = datetime(2022, rng.randrange(1, 13), rng.randrange(13, 29), rng.randrange(8, 18), 15)
        kset(i, "DateCreated", _dmy_hm(dt))
        dirt["ddmmyyyy_dates"].append({"file": "contacts.csv", "id": kid(i), "column": "DateCreated",
                                       "value": _dmy_hm(dt)})
    for i in pick.take(2):
        kset(i, "Preferred Contact Method", "Carrier pigeon")
        dirt["dropdown_not_in_options"].append({"file": "contacts.csv", "id": kid(i),
                                                "column": "Preferred Contact Method", "value": "Carrier pigeon"})
    (i,) = pick.take(1)
    dup = list(cont.rows[i])
    dup[K["Mobile"]] = _mobile(rng)
    cont.rows.insert(min(len(cont.rows), i + 1 + rng.randrange(5, 50)), dup)
    dirt["duplicate_ids"]["contacts.csv"].append(dup[0])
    _write(out, cont)

    # ---------------------------------------------------------------------------------- leads
    rng = _rng(seed, "leads")
    lead_hdr = ("EntityID FirstName LastName CompanyName Email Phone Status Source Score Converted OwnerEmail "
                "DateCreated DateModified").split() + [c[1] for c in cf_labels["Lead"]]
    leads = _Table("leads.csv", lead_hdr)
    lead_ids = []
    for j in range(N):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = f"{rng.choice(WORDS1)} {rng.choice(WORDS2)}"
        status = rng.choice(LEAD_STATUS)
        created = _when(rng)
        lid = str(300001 + j)
        owner = rng.choice(owners)
        if j < 1:
            owner = user_rows[unprov[0]][2]
            dirt["records_with_unprovisioned_owner"].append({"file": "leads.csv", "id": lid, "owner": owner})
        leads.rows.append([lid, first, last, company if rng.random() < 0.8 else "",
                           f"{first.lower()}@{_slug(company)}.com.au" if rng.random() < 0.85 else "",
                           _mobile(rng) if rng.random() < 0.6 else "", status, rng.choice(LEAD_SOURCE),
                           str(rng.randrange(0, 101)), "Yes" if status == "Converted" else "No", owner,
                           _iso(created), _iso(created + timedelta(days=rng.randrange(0, 90)))]
                          + custom_values(rng, "Lead"))
        lead_ids.append(lid)
    _write(out, leads)

    # ---------------------------------------------------------------------------------- deals
    rng = _rng(seed, "deals")
    deal_hdr = ("EntityID Name CompanyID ContactID Stage Amount Currency Probability CloseDate Status WinReason "
                "LossReason OwnerEmail DateCreated DateModified").split() + [c[1] for c in cf_labels["Deal"]]
    deals = _Table("deals.csv", deal_hdr)
    deal_ids, won_deals_of = [], [[] for _ in range(N)]
    deal_company = []
    for j in range(N):
        ci = rng.randrange(N)
        stage, prob = rng.choice(DEAL_STAGES)
        status = "Won" if stage == "Closed Won" else "Lost" if stage == "Closed Lost" else "Open"
        created = _when(rng)
        close = (created + timedelta(days=rng.randrange(14, 180))).date()
        did = str(400001 + j)
        owner = rng.choice(owners)
        close_s = close.isoformat()
        if j < k:
            close_s = _dmy(date(2023, (j % 12) + 1, 13 + j))
            dirt["ddmmyyyy_dates"].append({"file": "deals.csv", "id": did, "column": "CloseDate", "value": close_s})
        if k <= j < 2 * k:
            owner = user_rows[inactive[j % 2]][2]
            dirt["records_with_inactive_owner"].append({"file": "deals.csv", "id": did, "owner": owner})
        deals.rows.append([did, f"{cnames[ci][:60]} - {rng.choice(PRODUCTS)}", cids[ci],
                           rng.choice(contacts_of[ci]) if contacts_of[ci] and rng.random() < 0.85 else "",
                           stage, _money(rng.randrange(500, 250000)), "EUR" if rng.random() < 0.08 else "AUD",
                           str(prob), close_s, status, rng.choice(WIN) if status == "Won" else "",
                           rng.choice(LOSS) if status == "Lost" else "", owner, _iso(created),
                           _iso(created + timedelta(days=rng.randrange(0, 200)))] + custom_values(rng, "Deal"))
        deal_ids.append(did)
        deal_company.append(ci)
        if status == "Won":
            won_deals_of[ci].append(did)
    _write(out, deals)

    # ------------------------------------------------------------------------------- projects
    rng = _rng(seed, "projects")
    stages = _Table("project_stages.csv", ["ProjectType", "Stage", "Order", "WeightPercent"])
    for ptype, st in PROJECT_TYPES.items():
        for order, (sname, w) in enumerate(st, 1):
            stages.rows.append([ptype, sname, str(order), str(w)])
    _write(out, stages)
    proj_hdr = ("EntityID Name CompanyID DealID ProjectType Stage ProgressPercent StartDate EndDate Budget Status "
                "OwnerEmail DateCreated DateModified").split() + [c[1] for c in cf_labels["Project"]]
    projects = _Table("projects.csv", proj_hdr)
    project_ids = []
    for j in range(max(3, N * 2 // 5)):
        ci = rng.randrange(N)
        ptype = rng.choice(sorted(PROJECT_TYPES))
        st = PROJECT_TYPES[ptype]
        s = rng.randrange(len(st))
        progress = sum(w for _, w in st[:s])
        start = _when(rng)
        pid = str(500001 + j)
        projects.rows.append([pid, f"{ptype} - {cnames[ci][:60]}", cids[ci],
                              rng.choice(won_deals_of[ci]) if won_deals_of[ci] else "", ptype, st[s][0],
                              str(progress), start.date().isoformat(),
                              (start + timedelta(days=rng.randrange(30, 240))).date().isoformat(),
                              _money(rng.randrange(2000, 400000)),
                              rng.choice(("Active", "Active", "On Hold", "Completed", "Cancelled")),
                              rng.choice(owners), _iso(start - timedelta(days=3)), _iso(start)]
                             + custom_values(rng, "Project"))
        project_ids.append(pid)
    _write(out, projects)

    # -------------------------------------------------------------------- tickets + messages
    rng = _rng(seed, "tickets")
    tick_hdr = ("EntityID Subject Description Status Priority CompanyID ContactID OwnerEmail DateCreated "
                "DateModified DateClosed").split() + [c[1] for c in cf_labels["Ticket"]]
    tickets = _Table("tickets.csv", tick_hdr)
    msgs = _Table("ticket_messages.csv", ["EntityID", "TicketID", "FromAddress", "ToAddress", "Subject", "Body",
                                          "Sent", "Direction"])
    ticket_ids = []
    mid = 650001
    for j in range(N):
        ci = rng.randrange(N)
        subject = rng.choice(TICKET_SUBJECTS)
        status = rng.choice(TICKET_STATUS)
        created = _when(rng)
        closed = created + timedelta(hours=rng.randrange(1, 400)) if status in ("Resolved", "Closed") else None
        contact = rng.choice(contacts_of[ci]) if contacts_of[ci] else ""
        tid = str(600001 + j)
        desc = (f"Hi team,\r\n\r\n{subject} since this morning, affects {rng.randrange(1, 30)} staff.\r\n"
                f"Steps tried: restart, \"turn it off and on\", checked cables.\r\n\r\nThanks")
        owner = rng.choice(owners)
        if j < 1:
            owner = user_rows[inactive[0]][2]
            dirt["records_with_inactive_owner"].append({"file": "tickets.csv", "id": tid, "owner": owner})
        tickets.rows.append([tid, subject, desc, status, rng.choice(PRIORITY), cids[ci], contact, owner,
                             _iso(created), _iso(closed or created + timedelta(hours=2)),
                             _iso(closed) if closed else ""] + custom_values(rng, "Ticket"))
        ticket_ids.append(tid)
        cust = f"customer{j}@{cdomains[ci]}"
        sent = created
        for m in range(rng.randrange(1, 5)):
            incoming = m % 2 == 0
            msgs.rows.append([str(mid), tid, cust if incoming else "support@acme-services.com.au",
                              "support@acme-services.com.au" if incoming else cust,
                              subject if m == 0 else f"Re: {subject}",
                              "<p>Please see below.</p>\r\n<p>Regards,<br>Support</p>" if not incoming
                              else f"Hello,\r\n\r\n{subject}. Can you help?\r\n\r\n-- \r\nSent from my phone",
                              _iso(sent), "Incoming" if incoming else "Outgoing"])
            mid += 1
            sent += timedelta(hours=rng.randrange(1, 48))
    _write(out, tickets)
    _write(out, msgs)

    # ------------------------------------------------------------------------ invoices + lines
    rng = _rng(seed, "invoices")
    inv_hdr = ("EntityID Number CompanyID ContactID DealID Status IssueDate DueDate Currency Subtotal Tax Total "
               "AmountPaid DateCreated DateModified").split() + [c[1] for c in cf_labels["Invoice"]]
    invoices = _Table("invoices.csv", inv_hdr)
    lines = _Table("invoice_lines.csv", ["EntityID", "InvoiceID", "Description", "Quantity", "UnitPrice",
                                         "Discount", "Tax", "LineTotal"])
    lid = 750001
    invoice_ids = []
    for j in range(N):
        ci = rng.randrange(N)
        iid = str(700001 + j)
        issue = _when(rng)
        status = rng.choice(INVOICE_STATUS)
        sub = tax = 0
        for _ in range(rng.randrange(1, 5)):
            qty = rng.choice((1, 1, 1, 2, 3, 5, 10))
            unit = rng.randrange(2000, 500000)  # cents
            disc = rng.choice((0, 0, 0, unit * qty // 10))
            total = unit * qty - disc
            ltax = round(total / 10)
            sub += total
            tax += ltax
            lines.rows.append([str(lid), iid, f"{rng.choice(PRODUCTS)}{', per month' if rng.random() < 0.2 else ''}",
                               str(qty), _money(unit / 100), _money(disc / 100), _money(ltax / 100),
                               _money(total / 100)])
            lid += 1
        paid = sub + tax if status == "Paid" else (rng.choice((0, (sub + tax) // 2)) if status == "Overdue" else 0)
        invoices.rows.append([iid, f"INV-{j + 1:06d}", cids[ci],
                              rng.choice(contacts_of[ci]) if contacts_of[ci] else "",
                              rng.choice(won_deals_of[ci]) if won_deals_of[ci] and rng.random() < 0.5 else "",
                              status, issue.date().isoformat(), (issue + timedelta(days=30)).date().isoformat(),
                              "AUD", _money(sub / 100), _money(tax / 100), _money((sub + tax) / 100),
                              _money(paid / 100), _iso(issue), _iso(issue + timedelta(days=rng.randrange(0, 60)))]
                             + custom_values(rng, "Invoice"))
        invoice_ids.append(iid)
    _write(out, invoices)
    _write(out, lines)

    # ---------------------------------------------------------------------------- contractors
    rng = _rng(seed, "contractors")
    contractors = _Table("contractors.csv", ["EntityID", "Name", "Email", "CompanyID", "Phone", "Role"])
    for j in range(max(4, N // 50)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        xid = str(800001 + j)
        no_email = j % 2 == 0
        if no_email:
            dirt["contractors_without_email"].append(xid)
        contractors.rows.append([xid, f"{first} {last}", "" if no_email else
                                 f"{first.lower()}.{last.lower()}@contractor-mail.com.au",
                                 cids[rng.randrange(N)] if rng.random() < 0.7 else "", _mobile(rng),
                                 rng.choice(("Electrician", "Plumber", "Installer", "Developer", "Bookkeeper"))])
    _write(out, contractors)

    # ----------------------------------------------------------------------------- activities
    rng = _rng(seed, "activities")
    act = _Table("activities.csv", ["EntityID", "Type", "Subject", "Body", "Start", "End", "DueDate", "Status",
                                    "Direction", "RegardingType", "RegardingID", "OwnerEmail", "DateCreated"])
    all_contacts = [r[0] for r in cont.rows]
    regard = (("Company", cids), ("Contact", all_contacts), ("Lead", lead_ids), ("Deal", deal_ids),
              ("Project", project_ids), ("Ticket", ticket_ids))
    for j in range(N * 4):
        typ = ACTIVITY_TYPES[j % 5] if j % 3 else rng.choice(ACTIVITY_TYPES)
        rtype, pool = regard[rng.randrange(len(regard))] if j % 4 else regard[0]
        start = _when(rng)
        subject = {"Call": "Follow-up call", "Email": "Sent proposal", "Meeting": "On-site meeting",
                   "Task": "Prepare quote", "Note": "Account note"}[typ]
        body = rng.choice(("Discussed renewal, pricing OK.", "Left voicemail.\nWill try again Friday.",
                           "Client asked for \"premium\" option, sending revised quote.", ""))
        timed = typ in ("Call", "Meeting")
        act.rows.append([str(900001 + j), typ, subject, body, _iso(start) if timed else "",
                         _iso(start + timedelta(minutes=rng.choice((15, 30, 60)))) if timed else "",
                         (start + timedelta(days=7)).date().isoformat() if typ == "Task" else "",
                         rng.choice(("Completed", "Completed", "Open")) if typ in ("Task", "Call", "Meeting")
                         else "Completed",
                         rng.choice(("Incoming", "Outgoing")) if typ in ("Call", "Email") else "",
                         rtype, rng.choice(pool), rng.choice(owners), _iso(start - timedelta(hours=1))])
    _write(out, act)

    # ------------------------------------------------------------------------------ documents
    rng = _rng(seed, "documents")
    docs = _Table("documents.csv", ["EntityID", "FileName", "MimeType", "SizeBytes", "Sha256", "RegardingType",
                                    "RegardingID", "Path", "DateCreated", "OwnerEmail"])
    odd_names = ("Angebot Müller.pdf", "O'Brien site photo.png", "Quote #123 (final) 50%.txt")
    n_docs = max(10, N // 10)
    for j in range(n_docs):
        did = str(1000001 + j)
        ci = rng.randrange(N)
        name, mime, data = _document(rng, j, cnames[ci])
        if j < len(odd_names):
            name = odd_names[j]
            mime = {"pdf": "application/pdf", "png": "image/png", "txt": "text/plain"}[name.rsplit(".", 1)[1]]
            data = _pdf("Angebot") if j == 0 else _png(rng) if j == 1 else b"Final quote, 50% deposit\r\n"
        rel = f"{did}/{name}"
        (out / "files" / did).mkdir(exist_ok=True)
        (out / "files" / did / name).write_bytes(data)
        rtype, pool = (("Company", cids), ("Deal", deal_ids), ("Ticket", ticket_ids),
                       ("Contact", all_contacts))[j % 4]
        target = cids[ci] if rtype == "Company" else rng.choice(pool)
        docs.rows.append([did, name, mime, str(len(data)), hashlib.sha256(data).hexdigest(), rtype, target, rel,
                          _iso(_when(rng)), rng.choice(owners)])
    for j in range(2 if large_file_mb else 0):
        did = str(1000001 + n_docs + j)
        name, mime = (("Site survey video.mp4", "video/mp4"), ("Drawings archive.zip", "application/zip"))[j]
        size = large_file_mb * MiB if j == 0 else large_file_mb * MiB // 2 + 12345
        (out / "files" / did).mkdir(exist_ok=True)
        h = hashlib.sha256()
        brng = _rng(seed, f"large:{j}")
        with open(out / "files" / did / name, "wb") as f:
            left = size
            while left:
                chunk = brng.randbytes(min(left, 4 * MiB))
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        docs.rows.append([did, name, mime, str(size), h.hexdigest(), "Company", cids[0], f"{did}/{name}",
                          _iso(BASE), owners[0]])
        dirt["large_files"].append({"id": did, "path": f"{did}/{name}", "size": size})
    _write(out, docs)

    # ---------------------------------------------------------------------------- kb articles
    rng = _rng(seed, "kb")
    kb = _Table("kb_articles.csv", ["EntityID", "Title", "Category", "Body", "Published", "DateCreated",
                                    "DateModified"])
    for j in range(max(5, N // 100)):
        cat = KB_CATEGORIES[j % len(KB_CATEGORIES)]
        title = f"{cat}: {rng.choice(TICKET_SUBJECTS)} ({j + 1})"
        created = _when(rng)
        body = (f'<h2>{title.replace("&", "&amp;")}</h2>\n<p>Follow these steps &mdash; it takes about '
                f'{rng.randrange(2, 15)} minutes:</p>\n<ol>\n<li>Open <b>Settings</b> &gt; <i>Accounts</i>.</li>\n'
                f'<li>Click "Reset", then confirm.</li>\n</ol>\n<p><img src="/kb/images/{j + 1}.png" '
                f'alt="screenshot, step 2"></p>\n<table><tr><th>Plan</th><th>Price</th></tr>'
                f'<tr><td>Basic</td><td>$10</td></tr></table>\n<p>See <a href="https://support.example.com/'
                f'kb/{j + 1}">the full guide</a>. Ça marche – naïve café.</p>')
        kb.rows.append([str(2000001 + j), title, cat, body, "Yes" if j % 4 else "No", _iso(created),
                        _iso(created + timedelta(days=rng.randrange(0, 300)))])
    _write(out, kb)

    # ------------------------------------------------------------------ custom fields, workflows
    cf = _Table("custom_fields.csv", ["Object", "Label", "Type", "Options"])
    cf.rows = [list(c) for c in CUSTOM_FIELDS]
    _write(out, cf)
    wf = _Table("workflows.csv", ["Name", "Trigger", "Conditions", "Actions", "Active"])
    wf.rows = [list(w) for w in WORKFLOWS]
    _write(out, wf)

    # ------------------------------------------------------------------------- the side files
    dirt["counts"] = {t.name: len(t.rows) for t in (users, comp, cont, leads, deals, stages, projects, tickets,
                                                   msgs, invoices, lines, contractors, act, docs, kb, cf, wf)}
    dirt["custom_fields"] = [{"object": o, "label": lab, "type": t, "options": opt} for o, lab, t, opt in
                             CUSTOM_FIELDS]
    dirt["provisioned_users"] = len(provisioned)
    users_out.parent.mkdir(parents=True, exist_ok=True)
    users_out.write_text(json.dumps(provisioned, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    dirt_out.parent.mkdir(parents=True, exist_ok=True)
    dirt_out.write_text(json.dumps(dirt, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return dirt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulators.sample_worketc", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="export folder to write (created)")
    p.add_argument("--companies", type=int, default=100, help=f"number of companies (>= {MIN_COMPANIES}); the rest scales")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--large-file-mb", type=int, default=0, help="also write two large documents of about M MiB")
    p.add_argument("--users-out", default=None, help="provisioned Dynamics 365 users (JSON); "
                                                     "default <out>/../provisioned_users.json")
    p.add_argument("--dirt-out", default=None, help="default <out>/../expected_dirt.json")
    a = p.parse_args(argv)
    if a.companies < MIN_COMPANIES:
        p.error(f"--companies must be at least {MIN_COMPANIES}")
    dirt = generate(a.out, a.companies, a.seed, large_file_mb=a.large_file_mb, users_out=a.users_out,
                    dirt_out=a.dirt_out)
    total = sum(dirt["counts"].values())
    print(f"wrote {total} records in {len(dirt['counts'])} files to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
