"""The web console in a real browser: Debian's headless Chromium driven through Debian's
chromium-driver by selenium. Run by tests/tests/console.rs against a running `alto dev`, which
passes everything through the environment:

  ALTO_URL, TENANT_LOGIN, TENANT_PASSWORD, ADMIN_LOGIN, ADMIN_PASSWORD,
  CLUSTER_ID (the tenant's cluster, which scales up), OTHER_CLUSTER_ID (another tenant's),
  SCREENSHOTS (a directory), CHROMIUM, CHROMEDRIVER.

Every wait polls the DOM with a deadline (WebDriverWait); nothing sleeps.
"""

import os
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["ALTO_URL"].rstrip("/")
CLUSTER_ID = os.environ["CLUSTER_ID"]
OTHER_CLUSTER_ID = os.environ["OTHER_CLUSTER_ID"]
SCREENSHOTS = os.environ["SCREENSHOTS"]
# A scale-up needs members to report load over the policy's threshold; the cluster page
# refreshes itself every 5 s.
SCALE_UP_TIMEOUT = 120


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def shot(driver, name):
    path = os.path.join(SCREENSHOTS, f"{name}.png")
    driver.save_screenshot(path)
    print(f"screenshot {path}")


def wait_for(driver, what, condition, timeout=20):
    """Poll `condition(driver)` until it is truthy; a stale element (the page refreshed its
    live section meanwhile) counts as not yet."""

    def check(d):
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(check)
    except TimeoutException:
        shot(driver, "failed-" + what.replace(" ", "-"))
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; page:\n{driver.page_source[:4000]}")


def log_in(driver, login, password):
    driver.get(URL + "/")
    wait_for(driver, "the login form", lambda d: d.find_elements(By.CSS_SELECTOR, "form#login"))
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form#login button[type=submit]").click()


def log_out(driver):
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait_for(driver, "the login form after logout", lambda d: d.find_elements(By.CSS_SELECTOR, "form#login"))


def tenant_session(driver):
    login, password = os.environ["TENANT_LOGIN"], os.environ["TENANT_PASSWORD"]

    log_in(driver, login, "not the password")
    wait_for(driver, "the login error", lambda d: d.find_elements(By.ID, "login-error"))
    assert "Wrong login or password" in driver.find_element(By.ID, "login-error").text

    log_in(driver, login, password)
    wait_for(driver, "the overview", lambda d: d.find_elements(By.ID, "who"))
    assert driver.find_element(By.ID, "who").text == login
    rows = wait_for(
        driver,
        "the tenant's cluster in the overview",
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#clusters tr.cluster[data-cluster-id='{CLUSTER_ID}']"),
    )
    assert len(rows) == 1
    listed = [r.get_attribute("data-cluster-id") for r in driver.find_elements(By.CSS_SELECTOR, "tr.cluster")]
    assert OTHER_CLUSTER_ID not in listed, f"another tenant's cluster is listed: {listed}"
    assert not driver.find_elements(By.LINK_TEXT, "Cartridges & policies"), "a tenant sees the admin link"
    shot(driver, "1-overview-tenant")

    rows[0].find_element(By.TAG_NAME, "a").click()
    members = wait_for(
        driver,
        "the cluster's members",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#members tr.member"),
    )
    assert members[0].get_attribute("data-member-id"), "a member row without its id"
    assert driver.find_elements(By.CSS_SELECTOR, "#chart svg"), "no chart"
    shot(driver, "2-cluster-members")

    wait_for(
        driver,
        "a scale-up in the timeline",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline li.decision.scale-up"),
        timeout=SCALE_UP_TIMEOUT,
    )
    reason = driver.find_element(By.CSS_SELECTOR, "#timeline li.decision.scale-up .reason").text
    assert "scale-up" in reason, f"the scale-up entry's reason: {reason!r}"
    wait_for(
        driver,
        "a scale-up marker on the chart",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg line.scale-up-marker[data-decision-time]"),
    )
    wait_for(
        driver,
        "more than one member",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#members tr.member")) > 1,
        timeout=SCALE_UP_TIMEOUT,
    )
    shot(driver, "3-cluster-scaled-up")

    driver.get(f"{URL}/console/clusters/{OTHER_CLUSTER_ID}")
    wait_for(driver, "the not-found page", lambda d: d.find_elements(By.ID, "problem"))
    assert "not found" in driver.find_element(By.ID, "problem").text.lower()
    assert not driver.find_elements(By.CSS_SELECTOR, "tr.member"), "another tenant's members shown"
    shot(driver, "4-other-tenants-cluster")

    driver.get(f"{URL}/console/definitions")
    wait_for(driver, "the forbidden page", lambda d: d.find_elements(By.ID, "problem"))
    assert not driver.find_elements(By.CSS_SELECTOR, "tr.cartridge"), "a tenant sees the cartridges"

    log_out(driver)
    driver.get(f"{URL}/console/clusters/{CLUSTER_ID}")
    wait_for(driver, "the login form for a logged-out visitor", lambda d: d.find_elements(By.CSS_SELECTOR, "form#login"))


def admin_session(driver):
    log_in(driver, os.environ["ADMIN_LOGIN"], os.environ["ADMIN_PASSWORD"])
    wait_for(driver, "the admin overview", lambda d: d.find_elements(By.LINK_TEXT, "Cartridges & policies"))
    listed = [r.get_attribute("data-cluster-id") for r in driver.find_elements(By.CSS_SELECTOR, "tr.cluster")]
    assert CLUSTER_ID in listed and OTHER_CLUSTER_ID in listed, f"the admin sees every cluster: {listed}"
    driver.find_element(By.LINK_TEXT, "Cartridges & policies").click()
    wait_for(driver, "the cartridges", lambda d: d.find_elements(By.CSS_SELECTOR, "#cartridges tr.cartridge[data-type='web']"))
    assert driver.find_elements(By.CSS_SELECTOR, "#autoscaling-policies tr.policy[data-id='hot']")
    assert driver.find_elements(By.CSS_SELECTOR, "#deployment-policies tr.policy[data-id='grow']")
    shot(driver, "5-admin-definitions")
    log_out(driver)


def main():
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver = browser()
    try:
        tenant_session(driver)
        admin_session(driver)
    finally:
        driver.quit()
    print("console browser test: every check passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"console browser test failed: {e}", file=sys.stderr)
        sys.exit(1)
