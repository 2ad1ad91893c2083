"""The web console in a real browser (Debian's headless Chromium, driven by Selenium): sign in
with an account's key, a bad Create form refused next to its field with nothing created, a
cache created and watched until Ready without reloading the page, an instance run from it,
its start-up timeline, the bill; a screenshot of each step. The registry password typed into
the form appears on no page."""
import os
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from tencentcloud.tke.v20180525 import models

from conftest import ROOT, ROOT_ID, ROOT_KEY, make_client

SHOTS = os.environ.get("IMC_SCREENSHOTS", os.path.join(ROOT, ".build", "screenshots"))
CANARY = "canary-console-5f2e9d"


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
    assert CANARY not in driver.page_source, f"the canary password is on the {name} page"


def click_and_wait(driver, element_id, url_part, seconds=30):
    """Clicks a link or button and waits for the page it leads to."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, seconds).until(lambda d: url_part in d.current_url and d.find_element(By.TAG_NAME, "html") != old)


def wait_text(driver, selector, text, seconds=60):
    # The page refreshes itself: an element read while it is replaced is read again.
    WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: text in d.find_element(By.CSS_SELECTOR, selector).text)


def test_the_console_creates_a_cache_runs_an_instance_and_shows_the_bill(browser, registry, building_server):
    base = f"http://127.0.0.1:{building_server['port']}"
    client = make_client(building_server)
    d = browser

    # Sign in: a wrong key is refused with a message; the right one opens the cache list.
    d.get(base + "/console")
    assert d.current_url.endswith("/console/login")
    d.find_element(By.ID, "secret-id").send_keys(ROOT_ID)
    d.find_element(By.ID, "secret-key").send_keys("wrong")
    click_and_wait(d, "sign-in", "/console/login")
    assert "wrong" in d.find_element(By.ID, "login-error").text
    d.find_element(By.ID, "secret-key").send_keys(ROOT_KEY)
    click_and_wait(d, "sign-in", "/console/caches")
    shot(d, "1-image-cache-list")

    # A bad size: refused next to the field, the other values kept, nothing created.
    before = client.DescribeImageCaches(models.DescribeImageCachesRequest()).TotalCount
    click_and_wait(d, "create", "/console/caches/new")
    d.find_element(By.ID, "name").send_keys("console-demo")
    d.find_element(By.ID, "images").send_keys(f"{registry}/demo/app:latest")
    d.find_element(By.ID, "http").send_keys(registry)
    d.find_element(By.ID, "cred-server").send_keys(registry)
    d.find_element(By.ID, "cred-username").send_keys("demo")
    d.find_element(By.ID, "cred-password").send_keys(CANARY)
    size = d.find_element(By.ID, "size")
    size.clear()
    size.send_keys("5")
    click_and_wait(d, "submit", "/console/caches")
    assert "ImageCacheSize must be from 20" in d.find_element(By.ID, "error-size").text
    assert d.find_element(By.ID, "name").get_attribute("value") == "console-demo"
    assert d.find_element(By.ID, "cred-password").get_attribute("value") == "", "a password is never sent back"
    shot(d, "2-create-refused")
    assert client.DescribeImageCaches(models.DescribeImageCachesRequest()).TotalCount == before

    # A good one: the cache page follows the build live, without reloading.
    size = d.find_element(By.ID, "size")
    size.clear()
    size.send_keys("20")
    d.find_element(By.ID, "cred-password").send_keys(CANARY)
    assert Select(d.find_element(By.ID, "platform")).first_selected_option.text == "linux/amd64", "the host's by default"
    refresh = d.find_element(By.ID, "refresh")
    refresh.clear()
    refresh.send_keys("60")
    click_and_wait(d, "submit", "/console/caches/imc-")
    cache_id = d.current_url.rsplit("/", 1)[1]
    d.execute_script("window.__sameDocument = true")
    wait_text(d, "#status", "Ready")
    assert d.execute_script("return window.__sameDocument === true"), "the events updated in place"
    reasons = [row.find_elements(By.TAG_NAME, "td")[2].text for row in d.find_elements(By.CSS_SELECTOR, "#events tr")[1:]]
    assert reasons[-3:] == ["SnapshotCreating", "SnapshotCreated", "Ready"], reasons
    assert d.find_element(By.ID, "platform").text == "linux/amd64"
    assert "every 60 min" in d.find_element(By.ID, "refresh").text
    assert "100%" in d.find_element(By.CSS_SELECTOR, "#live .progress").text
    shot(d, "3-cache-ready")
    d.get(base + "/console/caches")
    row = d.find_element(By.CSS_SELECTOR, f'tr[data-id="{cache_id}"]')
    assert "Ready" in row.text and "console-demo" in row.text

    # Run an instance from it: the cache is used, the container's output is on the page.
    d.get(base + f"/console/caches/{cache_id}")
    old = d.find_element(By.TAG_NAME, "html")
    d.find_element(By.LINK_TEXT, "Run an instance with it").click()
    WebDriverWait(d, 30).until(lambda x: x.find_element(By.TAG_NAME, "html") != old)
    assert d.find_element(By.ID, "image").get_attribute("value") == f"{registry}/demo/app:latest"
    d.find_element(By.ID, "name").send_keys("console-run")
    d.find_element(By.ID, "command").send_keys("cat /app/message")
    Select(d.find_element(By.ID, "cache")).select_by_value(cache_id)
    assert [o.text for o in Select(d.find_element(By.ID, "match")).options][1:] == ["perfect", "partial"]
    assert not d.find_element(By.ID, "auto-create").is_selected()
    click_and_wait(d, "submit", "/console/instances/eksci-")
    wait_text(d, "#status", "Succeeded")
    assert d.find_element(By.ID, "match").text == "ImageCacheUsed"
    assert "hello from an image cache" in d.find_element(By.ID, "logs").text
    assert d.find_elements(By.CSS_SELECTOR, "svg.timeline rect"), "the start-up timeline is drawn"
    shot(d, "4-instance")
    d.get(base + "/console/instances")
    assert d.find_elements(By.CSS_SELECTOR, "#start-chart rect"), "cold against cached start times are drawn"
    assert "ImageCacheUsed" in d.find_element(By.ID, "instances").text
    shot(d, "5-instances")

    # The bill: the build's builder and disk, the snapshot, the instance's disk.
    d.get(base + "/console/bill")
    items = d.find_element(By.ID, "items").text
    for kind in ("builder", "build_disk", "snapshot", "instance_disk"):
        assert kind in items, items
    assert cache_id in d.find_element(By.ID, "cache-totals").text
    assert "CNY" in d.find_element(By.ID, "total").text
    shot(d, "6-bill")

    # An instance on a VPC with an EIP, from the Run form: its page shows both, and its
    # containers' readiness.
    d.get(base + "/console/instances/new")
    for field, value in [("name", "console-eip"), ("image", f"{registry}/demo/app:latest"), ("command", "sleep 600"),
                         ("vpc", "vpc-console"), ("subnet", "subnet-console"), ("groups", "sg-web"), ("bandwidth", "abc")]:
        d.find_element(By.ID, field).clear()
        d.find_element(By.ID, field).send_keys(value)
    assert "sg-web" in d.find_element(By.CSS_SELECTOR, "label[for=groups]").text
    d.find_element(By.ID, "eip").click()
    click_and_wait(d, "submit", "/console/instances")
    assert "bandwidth" in d.find_element(By.ID, "run-error").text and d.find_element(By.ID, "vpc").get_attribute("value") == "vpc-console"
    d.find_element(By.ID, "bandwidth").clear()
    d.find_element(By.ID, "bandwidth").send_keys("10")
    click_and_wait(d, "submit", "/console/instances/eksci-")
    wait_text(d, "#status", "Running")
    wait_text(d, "#eip", "198.51.100.")
    assert "10 Mbit/s" in d.find_element(By.ID, "eip").text and "vpc-console" in d.find_element(By.ID, "private-ip").text
    assert d.find_element(By.CSS_SELECTOR, "#containers td.ready").text == "yes"
    shot(d, "6b-instance-eip")
    eip_instance = d.current_url.rsplit("/", 1)[1]
    click_and_wait(d, "delete", "/console/instances")

    # The cache's Update form: a bad size is refused on the page; an update that fails leaves
    # the page saying which snapshot still serves instances.
    d.get(base + f"/console/caches/{cache_id}")
    assert d.find_element(By.ID, "update-images").get_attribute("value") == f"{registry}/demo/app:latest"
    d.find_element(By.ID, "update-size").clear()
    d.find_element(By.ID, "update-size").send_keys("big")
    click_and_wait(d, "update", f"/console/caches/{cache_id}")
    assert "whole number of GiB" in d.find_element(By.ID, "update-error").text
    d.find_element(By.ID, "update-size").clear()
    d.find_element(By.ID, "update-size").send_keys("20")
    d.find_element(By.ID, "update-images").clear()
    d.find_element(By.ID, "update-images").send_keys(f"{registry}/demo/missing:v1")
    click_and_wait(d, "update", f"/console/caches/{cache_id}")
    deadline = time.time() + 60
    while time.time() < deadline and client.call_json(
            "DescribeImageCaches", {"ImageCacheIds": [cache_id]})["Response"]["ImageCaches"][0]["Status"] != "UpdateFailed":
        time.sleep(0.2)
    d.get(base + f"/console/caches/{cache_id}")
    serving = d.find_element(By.ID, "serving").text
    assert "the previous one, serving after the update failed" in serving and "demo/app" in serving, serving
    shot(d, "7-update-failed-still-serving")

    # Clean up through the console: the instance, then the cache.
    instance_id = [i.EksCiId for i in client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).EksCis
                   if i.EksCiId != eip_instance][0]
    d.get(base + f"/console/instances/{instance_id}")
    click_and_wait(d, "delete", "/console/instances")
    deadline = time.time() + 30
    while time.time() < deadline and instance_id in [
            i.EksCiId for i in client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).EksCis]:
        time.sleep(0.1)
    d.get(base + f"/console/caches/{cache_id}")
    click_and_wait(d, "delete", "/console/caches")
    assert cache_id not in d.page_source
    click_and_wait(d, "signout", "/console/login")
    d.get(base + "/console/caches")
    assert d.current_url.endswith("/console/login")


def test_another_account_sees_nothing_and_forms_from_other_sites_are_refused(browser, registry, building_server):
    import urllib.error
    import urllib.request
    from conftest import OTHER_ID, OTHER_KEY
    base = f"http://127.0.0.1:{building_server['port']}"
    client = make_client(building_server)
    req = models.CreateImageCacheRequest()
    req.Images = [f"{registry}/demo/app:latest"]
    req.ImageCacheName = "root-only"
    req.RegistryHttpEndPointList = [registry]
    cache_id = client.CreateImageCache(req).ImageCacheId
    d = browser
    d.get(base + "/console/login")
    d.find_element(By.ID, "secret-id").send_keys(OTHER_ID)
    d.find_element(By.ID, "secret-key").send_keys(OTHER_KEY)
    click_and_wait(d, "sign-in", "/console/caches")
    assert cache_id not in d.page_source and "root-only" not in d.page_source
    d.get(base + f"/console/caches/{cache_id}")
    other_page = d.page_source
    d.get(base + "/console/caches/imc-00000000")
    assert "No image cache" in other_page and other_page.replace(cache_id, "imc-00000000") == d.page_source, \
        "another account's cache answers as one that does not exist"
    click_and_wait(d, "signout", "/console/login")
    delete = models.DeleteImageCachesRequest()
    delete.ImageCacheIds = [cache_id]
    client.DeleteImageCaches(delete)
    # Without a session: sent to sign in.
    with urllib.request.urlopen(base + "/console/caches") as r:
        assert r.geturl().endswith("/console/login")
    # A form posted from another origin is refused even before sign-in is checked.
    req = urllib.request.Request(base + "/console/login", data=f"SecretId={ROOT_ID}&SecretKey={ROOT_KEY}".encode(),
                                 headers={"Origin": "http://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403


def test_sign_in_guesses_are_slowed_down(building_server):
    import urllib.error
    import urllib.request
    base = f"http://127.0.0.1:{building_server['port']}"

    def attempt():
        req = urllib.request.Request(base + "/console/login", data=b"SecretId=AKIDguessed&SecretKey=guess")
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        return 200, ""

    codes = [attempt()[0] for _ in range(5)]
    assert codes == [401] * 5
    code, page = attempt()
    assert code == 429 and "Too many failed sign-ins" in page
