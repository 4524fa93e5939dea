"""Browser tests of Roster's web pages: one scenario, step by step, as two people (Alice and Bob) would use it.

Run through browser-tests/run.sh, which starts the server and sets:
  ROSTER_BASE_URL   the server's URL (also the base of emailed links)
  ROSTER_DATA_DIR   its data dir; emails are .eml files in ROSTER_DATA_DIR/outbox/
  ROSTER_ARTIFACTS  where full-page screenshots go (NN-name.png)

The steps depend on each other: they run in file order and, once one fails, the later ones are skipped.
Page contract (ids and classes) as agreed for the server-rendered pages.
"""
import base64
import email
import email.policy
import email.utils
import functools
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = os.environ.get("ROSTER_BASE_URL", "http://127.0.0.1:8080").rstrip("/")
DATA_DIR = os.environ.get("ROSTER_DATA_DIR", "./data")
OUTBOX = os.path.join(DATA_DIR, "outbox")
ARTIFACTS = os.environ.get("ROSTER_ARTIFACTS", os.path.join(os.path.dirname(__file__), "..", "test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

PASSWORD = "long enough password"
ALICE = {"name": "Alice", "email": "alice@example.com"}
BOB = {"name": "Bob", "email": "bob@example.com"}
ORG1 = "Analytical Engines"
ORG2 = "Difference Engines"
WAIT = 10  # seconds for page loads and emails

TOKEN = r"[A-Za-z0-9_-]+"
INVITATION_LINK = re.compile(re.escape(BASE) + r"/i/(" + TOKEN + r")")
VERIFICATION_LINK = re.compile(re.escape(BASE) + r"/verify-email\?token=(" + TOKEN + r")")


# ---------------------------------------------------------------------------------------------------------------
# Emails (file transport: ROSTER_DATA_DIR/outbox/<ms timestamp>-<uuid>.eml)

def _text_part(message):
    """The text/plain body of a parsed message (the whole body if it is not multipart)."""
    part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
    if part is None:
        return ""
    try:
        return part.get_content()
    except Exception:  # undeclared charset or the like: fall back to the raw payload
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def read_emails():
    """All emails in the outbox, oldest first: dicts with path, to, subject, text."""
    if not os.path.isdir(OUTBOX):
        return []
    result = []
    for name in sorted(n for n in os.listdir(OUTBOX) if n.endswith(".eml")):
        path = os.path.join(OUTBOX, name)
        try:
            with open(path, "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
        except OSError:
            continue
        result.append({"path": path, "to": str(message.get("To", "")), "subject": str(message.get("Subject", "")),
                       "text": _text_part(message)})
    return result


def _addressed_to(header, address):
    return address.lower() in [a.lower() for _, a in email.utils.getaddresses([header])]


def wait_for_email(to, pattern, contains=None, timeout=WAIT):
    """The newest email to `to` whose text part matches `pattern` (and contains `contains`), polling up to
    `timeout` seconds. Returns (email dict, re.Match)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(read_emails()):
            if not _addressed_to(message["to"], to):
                continue
            if contains is not None and contains not in message["text"]:
                continue
            match = pattern.search(message["text"])
            if match:
                return message, match
        if time.monotonic() > deadline:
            seen = [(os.path.basename(m["path"]), m["to"], m["subject"]) for m in read_emails()]
            raise AssertionError(f"no email to {to} matching {pattern.pattern!r} within {timeout} s; outbox: {seen}")
        time.sleep(0.2)


def invitation_link(to, contains=None):
    message, match = wait_for_email(to, INVITATION_LINK, contains)
    return match.group(0), match.group(1)


def verification_link(to):
    message, match = wait_for_email(to, VERIFICATION_LINK)
    return match.group(0), match.group(1)


# ---------------------------------------------------------------------------------------------------------------
# Browser helpers

_shot_counter = [0]


def shot(driver, name):
    """A full-page screenshot of the current page as ARTIFACTS/NN-name.png."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    _shot_counter[0] += 1
    path = os.path.join(ARTIFACTS, f"{_shot_counter[0]:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name)}.png")
    try:
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width, height = max(1, int(size["width"])), max(1, int(size["height"]))
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1}})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
    except Exception:  # a screenshot must never be the reason a step fails
        driver.save_screenshot(path)
    return path


def new_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def url(path):
    return BASE + path


def wait_loaded(driver):
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script("return document.readyState") == "complete")


def visit(driver, path, name):
    driver.get(path if path.startswith("http") else url(path))
    wait_loaded(driver)
    shot(driver, name)


def new_page_loaded(driver):
    try:
        return driver.execute_script("return window.__rosterOldPage !== true && document.readyState === 'complete'")
    except WebDriverException:  # the old document went away mid-call: ask again
        return False


def click_and_wait(driver, element, name):
    """Clicks a submit button or link that loads a new page; waits for the new page and screenshots it."""
    # A marker on the current document: it is gone once a new page has loaded. (Checking the old element for
    # staleness races with the navigation: Chromium may answer "node does not belong to the document".)
    driver.execute_script("window.__rosterOldPage = true;")
    element.click()
    try:
        WebDriverWait(driver, WAIT).until(new_page_loaded)
    except TimeoutException:
        shot(driver, name + "-no-navigation")
        raise AssertionError(f"clicking {element_description(element)} on {driver.current_url} loaded no new page")
    wait_loaded(driver)
    shot(driver, name)


def element_description(element):
    try:
        return f"<{element.tag_name} id={element.get_attribute('id')!r}>"
    except Exception:
        return "the element"


def find(driver, css, within=None):
    """The element matching `css`, with a message naming the page when it is missing."""
    try:
        return (within or driver).find_element(By.CSS_SELECTOR, css)
    except NoSuchElementException:
        raise AssertionError(f"{css!r} not found on {driver.current_url} ({driver.title!r})") from None


def has(driver, css, within=None):
    return len((within or driver).find_elements(By.CSS_SELECTOR, css)) > 0


def fill(driver, css, value):
    field = find(driver, css)
    field.clear()
    field.send_keys(value)
    return field


def path_of(driver):
    return urllib.parse.urlsplit(driver.current_url).path


def page_text(driver):
    return find(driver, "body").text


def signed_in(driver):
    return has(driver, "form#signout")


def assert_has_csrf(driver, form_css):
    form = find(driver, form_css)
    assert has(driver, 'input[type="hidden"][name="_csrf"]', within=form), f"{form_css} has no hidden _csrf field"


def assert_labelled(driver, form_css):
    form = find(driver, form_css)
    for field in form.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea"):
        field_id = field.get_attribute("id")
        assert field_id, f"a field in {form_css} has no id (so no <label for>)"
        assert has(driver, f'label[for="{field_id}"]'), f"#{field_id} in {form_css} has no <label for>"


def sign_in(driver, person, who):
    visit(driver, "/signin", f"{who}-signin")
    assert_has_csrf(driver, "form#signin")
    fill(driver, "form#signin #email", person["email"])
    fill(driver, "form#signin #password", PASSWORD)
    click_and_wait(driver, find(driver, "form#signin #submit"), f"{who}-signed-in")
    assert signed_in(driver), f"{person['email']} is not signed in after /signin: {page_text(driver)[:300]}"


def org_rows(driver):
    return {row.get_attribute("data-email"): row for row in driver.find_elements(By.CSS_SELECTOR, "table#members tr[data-email]")}


def cell(row, css):
    return row.find_element(By.CSS_SELECTOR, css).text.strip()


def report_rows(driver, section):
    """{line number: row} of a report section (empty when the section is absent)."""
    return {int(row.get_attribute("data-line")): row
            for row in driver.find_elements(By.CSS_SELECTOR, f"section#{section} tr[data-line]")}


def report_emails(driver, section):
    return sorted(cell(row, "td.email") for row in report_rows(driver, section).values())


# ---------------------------------------------------------------------------------------------------------------
# Scenario state and step gating

class State:
    failed_step = None
    org1_path = None
    org2_path = None


def step(function):
    """A scenario step: skipped once an earlier step failed; marks the scenario failed when it fails."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if State.failed_step:
            pytest.skip(f"an earlier step failed: {State.failed_step}")
        try:
            return function(*args, **kwargs)
        except BaseException as error:
            if not isinstance(error, pytest.skip.Exception):
                State.failed_step = function.__name__
            raise
    return wrapper


@pytest.fixture(scope="module")
def alice():
    driver = new_driver()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def bob():
    driver = new_driver()
    yield driver
    driver.quit()


# ---------------------------------------------------------------------------------------------------------------
# a. Sign up and verify

def sign_up_and_verify(driver, person, who):
    visit(driver, "/signup", f"{who}-signup")
    assert_has_csrf(driver, "form#signup")
    assert_labelled(driver, "form#signup")
    fill(driver, "form#signup #name", person["name"])
    fill(driver, "form#signup #email", person["email"])
    fill(driver, "form#signup #password", PASSWORD)
    click_and_wait(driver, find(driver, "form#signup #submit"), f"{who}-signed-up")
    assert path_of(driver) == "/", f"after sign-up expected /, got {driver.current_url}"
    assert signed_in(driver), "not signed in after sign-up"
    text = page_text(driver).lower()
    assert person["email"] in text and ("verif" in text or "confirm" in text), \
        "the home page after sign-up does not mention the verification email"

    link, _ = verification_link(person["email"])
    visit(driver, link, f"{who}-verify-email")
    click_and_wait(driver, find(driver, "button#verify"), f"{who}-verified")
    text = page_text(driver).lower()
    assert "verified" in text, f"the page after verifying does not say the address is verified: {text[:300]}"
    assert person["email"] in text, "the verified page does not name the address"

    visit(driver, "/", f"{who}-home")
    if not signed_in(driver):
        sign_in(driver, person, who)
    assert signed_in(driver)
    assert person["email"] in find(driver, "body").text or person["name"] in find(driver, "body").text


@step
def test_a_alice_signs_up_and_verifies(alice):
    sign_up_and_verify(alice, ALICE, "alice")


@step
def test_a_bob_signs_up_and_verifies(bob):
    sign_up_and_verify(bob, BOB, "bob")


# ---------------------------------------------------------------------------------------------------------------
# b. Alice creates an organization and invites Bob as admin

def create_org(driver, name, who):
    visit(driver, "/", f"{who}-home")
    assert_has_csrf(driver, "form#create-org")
    assert_labelled(driver, "form#create-org")
    fill(driver, "form#create-org #org-name", name)
    click_and_wait(driver, find(driver, "form#create-org #create-org-submit"), f"{who}-org-created")
    assert path_of(driver).startswith("/orgs/"), f"creating an org did not lead to its page: {driver.current_url}"
    assert find(driver, "h1").text.strip() == name
    return path_of(driver)


def invite(driver, org_path, address, role, who):
    visit(driver, org_path, f"{who}-org-page")
    assert_has_csrf(driver, "form#invite")
    assert_labelled(driver, "form#invite")
    fill(driver, "form#invite #invite-email", address)
    Select(find(driver, "form#invite select#invite-role")).select_by_value(role)
    click_and_wait(driver, find(driver, "form#invite #invite-submit"), f"{who}-invited")
    visit(driver, org_path, f"{who}-org-page-after-invite")
    rows = org_rows(driver)
    assert address in rows, f"no members row for {address} after inviting; rows: {list(rows)}"
    assert role in cell(rows[address], "td.role").lower()
    assert cell(rows[address], "td.status").lower() == "pending", cell(rows[address], "td.status")


@step
def test_b_alice_creates_org_and_invites_bob(alice):
    State.org1_path = create_org(alice, ORG1, "alice")
    for link in ("a#import-link", "a#join-requests-link", "a#settings-link", "a#spaces-link", "a#audit-link"):
        assert has(alice, link), f"the org page has no {link}"
    visit(alice, "/", "alice-home-with-org")
    orgs = [a.text.strip() for a in alice.find_elements(By.CSS_SELECTOR, "section#organizations a.org")]
    assert ORG1 in orgs, f"{ORG1} is not among Alice's organizations: {orgs}"
    invite(alice, State.org1_path, BOB["email"], "admin", "alice")


# ---------------------------------------------------------------------------------------------------------------
# c. Bob accepts the emailed invitation

@step
def test_c_bob_accepts_the_emailed_invitation(bob):
    link, token = invitation_link(BOB["email"], contains=ORG1)
    visit(bob, link, "bob-invitation")
    assert path_of(bob) == f"/i/{token}"
    if has(bob, "a#signin"):  # signed out after all: sign in and come back
        click_and_wait(bob, find(bob, "a#signin"), "bob-signin-for-invitation")
        fill(bob, "form#signin #email", BOB["email"])
        fill(bob, "form#signin #password", PASSWORD)
        click_and_wait(bob, find(bob, "form#signin #submit"), "bob-back-at-invitation")
        assert path_of(bob) == f"/i/{token}", f"sign-in did not return to the invitation: {bob.current_url}"
    assert ORG1 in find(bob, "h1").text
    assert "admin" in find(bob, "p#role").text.lower()
    inviter = find(bob, "p#inviter").text
    assert ALICE["name"] in inviter or ALICE["email"] in inviter, f"inviter not named: {inviter!r}"
    assert find(bob, "p#expires").text.strip(), "no expiry shown"
    assert not has(bob, "p#other-account")
    assert has(bob, "button#decline")
    click_and_wait(bob, find(bob, "button#accept"), "bob-accepted")
    assert path_of(bob) == "/", f"after accepting expected /, got {bob.current_url}"
    orgs = [a.text.strip() for a in bob.find_elements(By.CSS_SELECTOR, "section#organizations a.org")]
    assert ORG1 in orgs, f"{ORG1} is not among Bob's organizations after accepting: {orgs}"
    assert not has(bob, f'section#invitations li.invitation[data-org="{ORG1}"]'), "the accepted invitation is still pending"


# ---------------------------------------------------------------------------------------------------------------
# d. Alice sees Bob active

@step
def test_d_alice_sees_bob_active(alice):
    visit(alice, State.org1_path, "alice-org-bob-active")
    rows = org_rows(alice)
    assert BOB["email"] in rows, f"no row for Bob: {list(rows)}"
    assert cell(rows[BOB["email"]], "td.status").lower() == "active", cell(rows[BOB["email"]], "td.status")
    assert "admin" in cell(rows[BOB["email"]], "td.role").lower()


# ---------------------------------------------------------------------------------------------------------------
# e. CSV import: preview (dry run), then apply

CSV = ("email,name,role,external_id\n"
       "carol@example.com,Carol,member,S-1\n"
       "dave@example.com,Dave,,S-2\n"
       "not-an-email,Eve,,S-3\n")


def upload(driver, csv_path, button, name):
    visit(driver, State.org1_path, "alice-org-before-import")
    click_and_wait(driver, find(driver, "a#import-link"), "alice-import-page")
    template = find(driver, "a#template")
    assert template.get_attribute("href"), "the template link has no href"
    assert_has_csrf(driver, "form#import")
    form = find(driver, "form#import")
    assert (form.get_attribute("enctype") or "").lower() == "multipart/form-data"
    assert_labelled(driver, "form#import")
    find(driver, "form#import input#file[type=file]").send_keys(csv_path)
    click_and_wait(driver, find(driver, f"form#import button#{button}"), name)


@step
def test_e_alice_imports_a_csv(alice):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix="roster-import-", delete=False) as f:
        f.write(CSV)
        csv_path = f.name
    try:
        # Preview: a dry run that says so and changes nothing.
        upload(alice, csv_path, "preview", "alice-import-preview")
        assert has(alice, "p#dry-run"), "the preview report does not say it is a dry run"
        assert find(alice, "p#summary").text.strip()
        assert 4 in report_rows(alice, "failed"), "the preview does not show line 4 as failed"
        visit(alice, State.org1_path, "alice-org-after-preview")
        rows = org_rows(alice)
        assert "carol@example.com" not in rows and "dave@example.com" not in rows, f"the preview changed the roster: {list(rows)}"
        time.sleep(1.5)  # the worker would have written any invitation email by now
        assert not [m for m in read_emails() if "carol@" in m["to"] or "dave@" in m["to"]], "the preview sent emails"

        # Import for real.
        upload(alice, csv_path, "apply", "alice-import-report")
        assert not has(alice, "p#dry-run"), "the applied import says it is a dry run"
        summary = " ".join(find(alice, "p#summary").text.split())
        for expected in ("1 failed", "2 invited", "0 added", "0 already in the roster"):
            assert expected in summary, f"summary {summary!r} lacks {expected!r}"

        failed = report_rows(alice, "failed")
        assert list(failed) == [4], f"failed lines: {list(failed)}"
        assert cell(failed[4], "td.email") == "not-an-email"
        reason = cell(failed[4], "td.reason")
        assert "email" in reason.lower() and len(reason.split()) >= 2, f"failure reason not in words: {reason!r}"

        invited = report_rows(alice, "invited")
        assert sorted(invited) == [2, 3], f"invited lines: {sorted(invited)}"
        assert report_emails(alice, "invited") == ["carol@example.com", "dave@example.com"]
        for section in ("added", "already-invited", "already-members"):
            assert not report_rows(alice, section), f"section #{section} is not empty"

        visit(alice, State.org1_path, "alice-org-after-import")
        rows = org_rows(alice)
        for address, external_id in (("carol@example.com", "S-1"), ("dave@example.com", "S-2")):
            assert address in rows, f"{address} missing from the roster after the import: {list(rows)}"
            assert cell(rows[address], "td.status").lower() == "pending", cell(rows[address], "td.status")
            assert cell(rows[address], "td.external-id") == external_id
        assert "carol@example.com" in wait_for_email("carol@example.com", INVITATION_LINK, ORG1)[0]["to"]
    finally:
        os.unlink(csv_path)


# ---------------------------------------------------------------------------------------------------------------
# f. A second invitation, declined from Bob's home page

@step
def test_f_bob_declines_a_second_invitation(alice, bob):
    State.org2_path = create_org(alice, ORG2, "alice")
    invite(alice, State.org2_path, BOB["email"], "member", "alice")

    visit(bob, "/", "bob-home-with-invitation")
    selector = f'section#invitations li.invitation[data-org="{ORG2}"]'
    assert has(bob, selector), f"Bob's home lists no pending invitation to {ORG2}"
    item = find(bob, selector)
    assert has(bob, ".accept", within=item) and has(bob, ".decline", within=item)
    for button in (find(bob, ".accept", within=item), find(bob, ".decline", within=item)):
        form = button.find_element(By.XPATH, "./ancestor::form[1]")
        assert (form.get_attribute("method") or "").lower() == "post"
        assert has(bob, 'input[type="hidden"][name="_csrf"]', within=form)
    click_and_wait(bob, find(bob, ".decline", within=item), "bob-declined")
    visit(bob, "/", "bob-home-after-decline")
    assert not has(bob, selector), f"the declined invitation to {ORG2} is still listed"
    orgs = [a.text.strip() for a in bob.find_elements(By.CSS_SELECTOR, "section#organizations a.org")]
    assert ORG1 in orgs and ORG2 not in orgs, f"Bob's organizations after declining: {orgs}"


# ---------------------------------------------------------------------------------------------------------------
# g. CSRF: a sign-in post without _csrf (and without cookies) is refused

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_g_signin_without_csrf_is_refused():
    body = urllib.parse.urlencode({"email": ALICE["email"], "password": PASSWORD}).encode()
    request = urllib.request.Request(url("/signin"), data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(request, timeout=WAIT)
        status, headers = response.status, response.headers
    except urllib.error.HTTPError as error:
        status, headers = error.code, error.headers
    assert status == 403, f"POST /signin without _csrf answered {status}, not 403"
    assert "Location" not in headers
    cookies = headers.get_all("Set-Cookie") or []
    assert not [c for c in cookies if c.startswith("roster_session=") and not c.startswith("roster_session=;")], \
        f"a session cookie was set: {cookies}"


# ---------------------------------------------------------------------------------------------------------------
# h. Bob moves his account to another address; it takes effect once the new inbox confirms it

@step
def test_h_bob_changes_his_email(bob):
    new_address = "bob.new@example.org"
    visit(bob, "/", "bob-home-before-email-change")
    click_and_wait(bob, find(bob, 'header a[href="/account"]'), "bob-account")
    assert path_of(bob) == "/account", f"the header's account link led to {bob.current_url}"
    assert_has_csrf(bob, "form#change-email")
    assert_labelled(bob, "form#change-email")
    fill(bob, "form#change-email #email", new_address)
    fill(bob, "form#change-email #current_password", PASSWORD)
    click_and_wait(bob, find(bob, "form#change-email #submit"), "bob-email-change-asked")
    assert new_address in page_text(bob), "the account page does not say where the link went"
    assert find(bob, "#current-email").text.strip() == BOB["email"], "the address changed before the new inbox confirmed it"

    link, _ = verification_link(new_address)
    visit(bob, link, "bob-confirm-new-email")
    click_and_wait(bob, find(bob, "button#verify"), "bob-new-email-confirmed")
    assert new_address in page_text(bob), "the confirmation page does not name the new address"
    visit(bob, "/account", "bob-account-after-change")
    assert find(bob, "#current-email").text.strip() == new_address


# ---------------------------------------------------------------------------------------------------------------
# i. A sync preview, a webhook endpoint and an organization API key (issue 15)

@step
def test_i_alice_previews_a_sync_and_adds_a_webhook_and_a_key(alice):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix="roster-sync-", delete=False) as f:
        f.write("email\ncarol@example.com\n")
        csv_path = f.name
    try:
        visit(alice, State.org1_path, "alice-org-before-sync")
        click_and_wait(alice, find(alice, "a#import-link"), "alice-sync-page")
        assert_labelled(alice, "form#import")
        find(alice, "form#import input#sync").click()
        fill(alice, "form#import #change-threshold", "100")
        find(alice, "form#import input#file[type=file]").send_keys(csv_path)
        click_and_wait(alice, find(alice, "form#import button#preview"), "alice-sync-preview")
        assert has(alice, "p#dry-run") and has(alice, "p#sync-note"), "the sync preview lacks its note"
        revoked = page_text(alice)
        assert has(alice, "section#sync-revoked") and "dave@example.com" in find(alice, "section#sync-revoked").text, revoked[:500]
        assert ALICE["email"] in find(alice, "section#sync-kept").text, "the owner is not listed as kept"
        assert find(alice, "#apply-previewed-submit").text.strip() == "Sync with this file"
    finally:
        os.unlink(csv_path)

    visit(alice, State.org1_path, "alice-org-before-webhooks")
    click_and_wait(alice, find(alice, "a#webhooks-link"), "alice-webhooks")
    assert_has_csrf(alice, "form#add-webhook")
    assert_labelled(alice, "form#add-webhook")
    fill(alice, "form#add-webhook #url", "https://93.184.215.14/roster-events")
    find(alice, 'form#add-webhook input[value="membership.invited"]').click()
    click_and_wait(alice, find(alice, "form#add-webhook button[type=submit]"), "alice-webhook-added")
    assert find(alice, "code#secret").text.startswith("whsec_"), "the new endpoint's secret is not shown"
    assert "membership.invited" in page_text(alice)

    visit(alice, State.org1_path, "alice-org-before-keys")
    click_and_wait(alice, find(alice, "a#api-keys-link"), "alice-api-keys")
    assert_has_csrf(alice, "form#create-key")
    assert_labelled(alice, "form#create-key")
    fill(alice, "form#create-key #name", "LMS sync")
    find(alice, 'form#create-key input[value="scope.read"]').click()
    find(alice, 'form#create-key input[value="members.read"]').click()
    click_and_wait(alice, find(alice, "form#create-key button[type=submit]"), "alice-key-created")
    key = find(alice, "code#key").text
    assert key.startswith("rk_"), "the new key is not shown"
    request = urllib.request.Request(url(State.org1_path.replace("/orgs/", "/v1/orgs/") + "/members"), headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200, "the new key does not read the roster"


# ---------------------------------------------------------------------------------------------------------------
# j. An invite link: Alice creates one, Bob joins through it (issue 16)

@step
def test_j_bob_joins_through_alices_invite_link(alice, bob):
    club = create_org(alice, "Link Club", "alice-club")
    click_and_wait(alice, find(alice, "a#invite-links-link"), "alice-invite-links")
    assert_has_csrf(alice, "form#create-link")
    assert_labelled(alice, "form#create-link")
    fill(alice, "form#create-link #max-uses", "5")
    fill(alice, "form#create-link #expires-in-days", "7")
    click_and_wait(alice, find(alice, "form#create-link #create-link-submit"), "alice-invite-link-created")
    link = find(alice, "code#link-url").text.strip()
    assert "/j/" in link, f"no link shown: {link!r}"

    visit(bob, link, "bob-invite-link")
    assert "Link Club" in find(bob, "h1").text
    click_and_wait(bob, find(bob, "form#join #join-submit"), "bob-joined-through-link")
    assert path_of(bob) == club, f"joining led to {bob.current_url}, not the organization"
    assert find(bob, "h1").text.strip() == "Link Club"

    visit(alice, club + "/invite-links", "alice-invite-links-used")
    assert "1 of 5" in find(alice, "table#links").text, "the link's use is not counted"
    # Who came through it: the members page, narrowed to the link (Alice, who made it, is not listed).
    click_and_wait(alice, find(alice, "table#links a"), "alice-who-joined-through-link")
    assert has(alice, "#link-filter"), "the members page does not say it lists one link's people"
    assert len(org_rows(alice)) == 1, f"the link brought one person; the page lists {sorted(org_rows(alice))}"
