"""A person's walk through the UI: log in through the login form, then follow every same-origin link (and submit
every GET form with the values it shows) breadth first, and judge each answer as a person would see it.

What passes: 200 or a redirect for anything the site links to; for addresses a person types or is handed by a
colleague (another role's pages, an id that does not exist, a number beyond any id) also a Chinese error page
(403/404, or 422 explaining a value out of range) inside the site's layout with the visitor's navigation.
What fails: a 5xx (named with its exception when the app runs in-process) or any other status; JSON or plain
text where HTML was asked for; a page outside the layout; English error text (FastAPI's and Python's
defaults); a page that shows times in UTC or does not name its zone exactly once; a link of the site that
ends on an error page; a logged-in visitor sent back to the login form; a referenced file (/static/…, the
icon) that is not there.

Pages of one kind (one route, one query name) are visited a few times per user, not once per id, so every
kind of page every user can reach is seen without walking every record of the demo."""

from __future__ import annotations

import logging
import re
import traceback
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

HTML_ACCEPT = "text/html,application/xhtml+xml"
ERROR_PAGES = (403, 404)
TYPED_ANSWERS = (200, *ERROR_PAGES, 422)  # 422: a typed value out of range, explained on the page
MISSING_IDS = ("987654321", "99999999999999999999")  # no such record; beyond a 64-bit id
QUERY_ID = re.compile(r"(?<=[?&])([\w.]+)=\d+(?=&|$)")
ENGLISH_ERRORS = ("Internal Server Error", "Not Found", "Method Not Allowed", "Field required", "Input should be",
                  "value is not", "Traceback (most recent call last)", "Unprocessable", "Bad Request", "Forbidden")
ENGLISH_WORDS = re.compile(r"\bdetail\b")
PROGRAM_VALUES = re.compile(r"(?<![\w.])(True|False|None)(?![\w.])")  # a person reads 是 / 否 / 无, not Python
UTC_SHOWN = re.compile(r"UTC|协调世界时")
ZONE_NAMED = re.compile(r"时间为[^（(]*[（(]([A-Za-z_/+-]+)[）)]")  # the layout's "时间为北京时间（Asia/Shanghai）"
NOT_PAGES = re.compile(r"^/(static/|favicon\.ico$)|/logout\b")


@dataclass(frozen=True)
class Finding:
    user: str
    url: str
    status: int
    problem: str
    referrer: str

    def __str__(self) -> str:
        return f"{self.user} GET {self.url} → {self.status}: {self.problem}（来自 {self.referrer}）"


@dataclass
class CrawlReport:
    users: int = 0
    probing_users: int = 0  # one user for each distinct set of routes shown
    pages: int = 0
    kinds: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    @property
    def paths(self) -> set[str]:
        """The routes visited: kinds without their query."""
        return {kind.split("?")[0] for kind in self.kinds}


# ------------------------------------------------------------------ reading a page


class _References(HTMLParser):
    """Pages a person can open from this one (a[href], GET forms with the values they show) and the files it
    makes the browser fetch (link[href], script[src], img[src], download links)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pages: list[str] = []
        self.files: list[str] = []
        self._form: list[tuple[str, str | None]] | None = None
        self._action = ""
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "a" and a.get("href"):
            (self.files if "download" in a else self.pages).append(a["href"])
        elif tag == "link" and a.get("href"):
            self.files.append(a["href"])
        elif tag in ("script", "img") and a.get("src"):
            self.files.append(a["src"])
        elif tag == "form":
            is_get = a.get("method", "get").lower() == "get"
            self._form, self._action = ([], a.get("action", "")) if is_get else (None, "")
        elif self._form is not None:
            self._form_field(tag, a)

    def _form_field(self, tag: str, a: dict[str, str]) -> None:
        name = a.get("name")
        if tag == "input" and name and a.get("type", "text") not in ("submit", "button", "file", "reset", "image"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self._form.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select = name
            self._form.append((name, None))  # the first option, unless one is selected
        elif tag == "option" and self._select:
            index = max(i for i, (n, _v) in enumerate(self._form) if n == self._select)
            if self._form[index][1] is None or "selected" in a:
                self._form[index] = (self._select, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._form is not None:
            query = urlencode([(name, value or "") for name, value in self._form])
            self.pages.append(f"{self._action.split('?')[0]}?{query}" if query else self._action)
            self._form = None


def _with_huge_query_ids(url: str) -> str:
    return QUERY_ID.sub(lambda m: f"{m.group(1)}={MISSING_IDS[-1]}", url)


def visible_text(html: str) -> str:
    without_code = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_code))


def page_kind(url: str) -> str:
    """The route and the query's name: /sharing/requests/12?box=x → /sharing/requests/#?box. A query of several
    names is one kind whatever the names (a search with any combination of filters, a filled filter form)."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$)", "/#", parts.path)
    names = sorted({name for name, _value in parse_qsl(parts.query, keep_blank_values=True)})
    if len(names) > 1:
        return path + "?…"
    return path + ("?" + names[0] if names else "")


# ------------------------------------------------------------------ judging an answer


def judge_page(response, *, linked: bool) -> list[str]:
    """What a person would find wrong with the answer to a page they asked for (Accept: text/html). `linked`:
    the site itself offered the address (then an error page is a broken link, not a fair refusal)."""
    status = response.status_code
    if 300 <= status < 400:
        return [] if response.headers.get("location") else ["重定向没有目标地址"]
    problems = []
    if status >= 500:
        problems.append("服务器错误")
    elif linked and status != 200:
        problems.append("站内链接通向错误页" if status in ERROR_PAGES else f"页面不应返回 {status}")
    elif status not in TYPED_ANSWERS:
        problems.append(f"页面不应返回 {status}")
    content_type = response.headers.get("content-type", "")
    if "json" in content_type or content_type.startswith("text/plain"):
        return [*problems, f"要的是网页，返回的是 {content_type}：{response.text[:160]}"]
    if "text/html" not in content_type:
        downloadable = status == 200 and "attachment" in response.headers.get("content-disposition", "")
        return problems if downloadable else [*problems, f"要的是网页，返回的是 {content_type or '无类型'}"]
    return problems + html_problems(response.text)


def html_problems(html: str) -> list[str]:
    problems = []
    if '<header class="topbar">' not in html or 'action="/logout"' not in html:
        problems.append("页面不在网站布局内（没有已登录用户的导航）")
    text = visible_text(html)
    english = [marker for marker in ENGLISH_ERRORS if marker in text] + ENGLISH_WORDS.findall(text)[:1]
    if english:
        problems.append("页面上有英文错误文字：" + "、".join(english))
    if found := PROGRAM_VALUES.search(text):
        problems.append("页面上显示了程序值（应为 是/否/无）：…" + text[max(0, found.start() - 30): found.end() + 10])
    if UTC_SHOWN.search(text):
        found = UTC_SHOWN.search(text)
        problems.append("页面以 UTC 显示时间：…" + text[max(0, found.start() - 40): found.end() + 20] + "…")
    zones = ZONE_NAMED.findall(text)
    if len(zones) != 1:
        problems.append(f"页面应说明一次时间所用的时区，实际为：{'、'.join(zones) or '未说明'}")
    return problems


class ServerErrors(logging.Handler):
    """The exceptions the app logs (govshare.error_handlers logs every unhandled one) while a crawl runs
    in-process, so that a 500 names its cause: the exception and the innermost frames of govshare."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.latest: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            frames = [f for f in traceback.extract_tb(error.__traceback__) if "/govshare/" in f.filename][-3:]
            where = " ← ".join(f"{f.filename.split('/govshare/')[-1]}:{f.lineno} {f.name}" for f in reversed(frames))
            self.latest = f"{type(error).__name__}: {error} at {where}"

    def take(self) -> str | None:
        latest, self.latest = self.latest, None
        return latest

    @contextmanager
    def watching(self):
        logger = logging.getLogger("govshare")
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)


# ------------------------------------------------------------------ the walk


class Crawler:
    """Walks the site as one logged-in user after another through one HTTP client (TestClient, or httpx.Client
    with a base_url). Files (/static/…, the icon) are fetched once for all users."""

    def __init__(self, client, password: str, *, max_pages: int = 400, per_kind: int = 3, per_route: int = 6) -> None:
        self.client = client
        self.password = password
        self.max_pages = max_pages
        self.per_kind = per_kind
        self.per_route = per_route
        self.base = str(client.base_url).rstrip("/")
        self.files_seen: set[str] = set()
        self.examples: dict[str, str] = {}  # route → the first address of it any user was shown
        self._server_errors = ServerErrors()

    def crawl(self, usernames: list[str], start: str = "/") -> CrawlReport:
        """Every user walks what the site links to from `start`; then the users open the other users' routes and
        addresses of records that do not exist, as typed or handed-on addresses. Users shown the same routes (one
        role in several departments) would probe the same routes, so the first of them probes for all."""
        report = CrawlReport(users=len(usernames))
        with self._server_errors.watching():
            visited = {username: self._walk(username, report, start) for username in usernames}
            probed: set[frozenset[str]] = set()
            for username in usernames:
                routes = frozenset(kind.split("?")[0] for kind in visited[username])
                if routes not in probed:
                    probed.add(routes)
                    self._probe(username, visited[username], report)
            report.probing_users = len(probed)
        return report

    def walk(self, username: str, start: str = "/") -> dict[str, str]:
        """The first address of each kind of page `username` reaches by links from `start` (bench/pages_bench.py
        times them); what a person would find wrong is not kept here."""
        return self._walk(username, CrawlReport(users=1), start)

    def log_in(self, username: str) -> str | None:
        """Logs in through the login form as a browser would; returns why that failed, or None."""
        self.client.cookies.clear()
        form = self.client.get("/login", headers={"Accept": HTML_ACCEPT})
        if form.status_code != 200 or 'name="username"' not in form.text:
            return f"登录页无法打开：{form.status_code}"
        answer = self.client.post("/login", data={"username": username, "password": self.password, "next": "/"},
                                  headers={"Origin": self.base, "Accept": HTML_ACCEPT}, follow_redirects=False)
        if answer.status_code != 303:
            return f"登录失败：{answer.status_code} {visible_text(answer.text)[:200]}"
        return None

    def _walk(self, username: str, report: CrawlReport, start: str) -> dict[str, str]:
        """Breadth first from `start`: each kind of page at most `per_kind` times, and once a route had `per_route`
        visits only its kinds not seen yet (the catalog's filters are kinds of one page). Returns the first
        address of each kind the user visited."""
        refusal = self.log_in(username)
        if refusal:
            report.findings.append(Finding(username, "/login", 0, refusal, "—"))
            return {}
        queue: deque[tuple[str, str]] = deque([(start, "登录后")])
        queued, per_kind, per_route, first, pages = {start}, {}, {}, {}, 0
        while queue and pages < self.max_pages:
            url, referrer = queue.popleft()
            kind = page_kind(url)
            route = kind.split("?")[0]
            seen = per_kind.get(kind, 0)
            if seen >= self.per_kind or (seen and per_route.get(route, 0) >= self.per_route):
                continue
            per_kind[kind], per_route[route] = seen + 1, per_route.get(route, 0) + 1
            self.examples.setdefault(route, url)
            first.setdefault(kind, url)
            pages += 1
            for link in self._visit(username, url, referrer, report, linked=True):
                if link not in queued:
                    queued.add(link)
                    queue.append((link, url))
        if queue and pages >= self.max_pages:
            report.findings.append(Finding(username, queue[0][0], 0, f"超过 {self.max_pages} 页仍未走完", queue[0][1]))
        report.pages += pages
        report.kinds |= set(per_kind)
        return first

    def _probe(self, username: str, visited: dict[str, str], report: CrawlReport) -> None:
        """Addresses typed or handed on rather than clicked: routes the user was not shown (another role's
        pages), its routes with ids that do not exist, and its pages with query ids beyond any record. A fair
        answer (a missing record is a 404), never a crash, JSON or a page outside the layout."""
        if self.log_in(username):
            return  # already reported by the walk
        routes = {kind.split("?")[0] for kind in visited}
        handed_on = [url for route, url in sorted(self.examples.items()) if route not in routes]
        missing = sorted({route.replace("#", number) for route in routes if "#" in route for number in MISSING_IDS})
        altered = [_with_huge_query_ids(url) for url in visited.values() if QUERY_ID.search(url)]
        for url in handed_on + altered:
            self._open(username, url, "他人转来或改动过的地址", report, linked=False)
        for url in missing:
            status = self._open(username, url, "不存在的编号", report, linked=False).status_code
            if status not in ERROR_PAGES:
                report.findings.append(Finding(username, url, status, "不存在的记录应答 404（或 403）", "不存在的编号"))
        report.pages += len(handed_on) + len(altered) + len(missing)

    def _open(self, username: str, url: str, referrer: str, report: CrawlReport, *, linked: bool):
        """GET as a browser asks for a page, judged."""
        response = self.client.get(url, headers={"Accept": HTML_ACCEPT}, follow_redirects=False)
        problems = judge_page(response, linked=linked)
        if response.status_code >= 500:
            cause = self._server_errors.take() or "服务器未记录异常"
            problems = [f"{problem}：{cause}" if problem == "服务器错误" else problem for problem in problems]
        report.findings += [Finding(username, url, response.status_code, problem, referrer) for problem in problems]
        target = self._local(response.headers.get("location", ""), url) if response.is_redirect else None
        if target and urlsplit(target).path == "/login":
            report.findings.append(Finding(username, url, response.status_code, "已登录用户被送回登录页", referrer))
        return response

    def _visit(self, username: str, url: str, referrer: str, report: CrawlReport, *, linked: bool) -> list[str]:
        """Opens a page; returns the pages it leads to, and fetches the files it refers to."""
        response = self._open(username, url, referrer, report, linked=linked)
        if response.is_redirect:
            target = self._local(response.headers.get("location", ""), url)
            return [target] if target and urlsplit(target).path != "/login" else []
        if "text/html" not in response.headers.get("content-type", ""):
            return []
        references = _References()
        references.feed(response.text)
        for file in references.files:
            self._fetch_file(username, self._local(file, url), url, report)
        links = (self._local(href, url) for href in references.pages)
        return [link for link in links if link and not NOT_PAGES.search(link)]

    def _fetch_file(self, username: str, url: str | None, referrer: str, report: CrawlReport) -> None:
        if not url or url in self.files_seen:
            return
        self.files_seen.add(url)
        response = self.client.get(url, follow_redirects=False)
        if response.status_code != 200:
            report.findings.append(Finding(username, url, response.status_code, "页面引用的文件取不到", referrer))

    def _local(self, href: str, current: str) -> str | None:
        """The path and query of a same-origin reference; None for other sites, mailto:, javascript: …"""
        parts = urlsplit(urljoin(self.base + current, href.strip()))
        if f"{parts.scheme}://{parts.netloc}" != self.base:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")
