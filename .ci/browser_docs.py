"""Browser test of the rendered docs: headless Chromium loads every page of the site from a local HTTP server.

A page fails on a console error, a failed request (or any request leaving the site: the docs must read offline),
an image that did not load, raw TeX left in the visible text, or a link to a file of the site that is not there;
the index page also when the site's search box finds nothing. Saves screenshots of the index page and of a page
with equations into the artefact folder and prints their paths.

usage: python .ci/browser_docs.py [SITE] [--out DIR] [--self-test]
  SITE        the rendered site (default: _docs)
  --out DIR   where the screenshots go (default: $CI_ARTIFACTS or <tmp>/ci-artifacts)
  --self-test build a small site with one known defect per page and check that each is reported (and a clean
              page is not); run before the real check so the checks are known to be able to fail
Needs Debian's chromium and chromium-driver (or CHROMIUM / CHROMEDRIVER pointing at them) and selenium.
"""
import argparse, functools, http.server, json, os, re, shutil, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
CHROMEDRIVER = os.environ.get('CHROMEDRIVER') or shutil.which('chromedriver') or '/usr/bin/chromedriver'
MATH_PAGE = 'schedule.html'  # a page with the paper's equations, screenshotted next to the index

# Raw TeX in the visible text (code blocks excluded): delimiters MathJax/KaTeX would have typeset, or math pandoc
# could not convert (left as a span.math without a <math> element).
RAW_TEX = re.compile(r'\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|sqrt|mathbb|mathcal|nabla|alpha|beta|epsilon|sigma|hat|bar|tfrac|text)(?![a-zA-Z])')
# Static check: tags whose URL the browser loads (not <a href> links, which are only followed on a click).
STATIC_LOADS = re.compile(r'<(?:script|img|iframe|source|embed|video|audio)\b[^>]*?\bsrc\s*=\s*["\']?(https?:)?//|'
                          r'<link\b(?=[^>]*\brel\s*=\s*["\']?(?:stylesheet|icon|preload|modulepreload|manifest))[^>]*?\bhref\s*=\s*["\']?(https?:)?//|'
                          r'@import\s*(?:url\()?\s*["\']?(https?:)?//|url\(\s*["\']?(https?:)?//', re.I)

VISIBLE_TEXT_JS = r"""
const body = document.body.cloneNode(true);
body.querySelectorAll('pre, code, script, style, noscript, math, textarea, .sourceCode').forEach(e => e.remove());
const unconverted = [...document.querySelectorAll('span.math')].filter(e => !e.querySelector('math')).map(e => e.textContent.slice(0, 80));
return {text: body.textContent, unconverted: unconverted, nmath: document.querySelectorAll('math').length};
"""
IMAGES_JS = r"""
const imgs = [...document.images];
imgs.forEach(i => { i.loading = 'eager'; });
return imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth}));
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


def serve(site):
    "Serve `site` on a free localhost port in a thread; returns (server, base URL)."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}/'


def browser(profile):
    "Headless Chromium through chromedriver; every host but localhost resolves to nothing (the site must read offline)."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-sync',
              '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage',
              '--window-size=1280,1000', f'--user-data-dir={profile}',
              '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1']: o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
    d = webdriver.Chrome(options=o, service=Service(CHROMEDRIVER))
    d.set_page_load_timeout(60)
    d.execute_cdp_cmd('Network.enable', {})
    d.execute_cdp_cmd('Network.setCacheDisabled', {'cacheDisabled': True})
    return d


def static_problems(html):
    "Resources the HTML or CSS loads from outside the site (a regex check, independent of the browser)."
    return [f'loads from outside the site: {html[max(m.start()-20, 0):m.end()+60]!r}' for m in STATIC_LOADS.finditer(html)]


_STYLESHEET = re.compile(r'<link\b(?=[^>]*\brel="stylesheet")[^>]*?\bhref="(?![a-z]+:|//)([^"?#]+)', re.I)  # the site's own CSS
_HREF = re.compile(r'<a\b[^>]*?\bhref="([^"#?]+)', re.I)

def broken_links(site, rel, html):
    "Links of the page to files of the site that do not exist."
    here = (site/rel).parent
    return [f'broken link: {h}' for h in dict.fromkeys(_HREF.findall(html))
            if not re.match(r'^[a-z][a-z0-9+.-]*:|^//', h, re.I) and not (here/unquote(h)).exists()]


def check_page(d, base, rel, wait=0.5):
    "Load one page; returns the list of problems found."
    d.get_log('browser'); d.get_log('performance')  # drop what earlier pages left
    url = base + rel
    d.get(url)
    time.sleep(wait)  # let scripts that run after the load event (search index, anchors, tooltips) finish
    problems = []
    imgs = d.execute_script(IMAGES_JS)
    t_end = time.time() + 10  # images still loading get up to 10 s
    while any(not i['complete'] for i in imgs) and time.time() < t_end:
        time.sleep(0.2); imgs = d.execute_script(IMAGES_JS)
    problems += [f"image did not load: {i['src']}" for i in imgs if not i['complete'] or i['w'] == 0]
    vis = d.execute_script(VISIBLE_TEXT_JS)
    problems += [f'math not rendered as MathML: {t!r}' for t in vis['unconverted']]
    for m in RAW_TEX.finditer(vis['text']):
        problems.append(f"raw TeX in the page: {vis['text'][max(m.start()-30, 0):m.end()+30]!r}")
    for e in d.get_log('browser'):
        if e['level'] == 'SEVERE': problems.append(f"console error: {e['message'][:300]}")
    origin = '{0.scheme}://{0.netloc}'.format(urlsplit(base))
    reqs = {}
    for e in d.get_log('performance'):
        m = json.loads(e['message'])['message']; p = m.get('params', {})
        if m['method'] == 'Network.requestWillBeSent':
            u = p['request']['url']; reqs[p['requestId']] = u
            if not u.startswith((origin, 'data:', 'blob:', 'about:')): problems.append(f'request outside the site: {u}')
        elif m['method'] == 'Network.responseReceived' and p['response']['status'] >= 400:
            problems.append(f"failed request: {p['response']['status']} {p['response']['url']}")
        elif m['method'] == 'Network.loadingFailed' and not p.get('canceled'):
            problems.append(f"failed request: {p.get('errorText')} {reqs.get(p['requestId'], '?')}")
    return list(dict.fromkeys(problems))


def check_search(d, base, query='polygrad'):
    "The site's search box (Quarto's, offline from search.json) finds `query`; [] when the site has no search box."
    from selenium.webdriver.common.by import By
    d.get(base + 'index.html'); time.sleep(0.5)
    btn = d.find_elements(By.CSS_SELECTOR, '#quarto-search .aa-DetachedSearchButton, #quarto-search button')
    if not btn: return []
    btn[0].click(); time.sleep(0.3)
    inp = d.find_elements(By.CSS_SELECTOR, 'input.aa-Input')
    if not inp: return ['search: the search box did not open']
    inp[0].send_keys(query)
    t_end = time.time() + 10
    while not d.find_elements(By.CSS_SELECTOR, '.aa-Item') and time.time() < t_end: time.sleep(0.2)
    n = len(d.find_elements(By.CSS_SELECTOR, '.aa-Item'))
    errs = [f"console error: {e['message'][:300]}" for e in d.get_log('browser') if e['level'] == 'SEVERE']
    return errs + ([] if n else [f'search: no result for {query!r}'])


def pages_of(site): return sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html') if 'site_libs' not in p.parts)


def check_site(site, out, screenshots=True):
    "Check every page of `site`; returns {page: [problems]}."
    site = Path(site).resolve(); pages = pages_of(site)
    if not pages: raise SystemExit(f'browser test: no HTML pages in {site} (render the docs first: nbdev_docs)')
    res = {}
    for p in pages:  # static check of what each page (and the site's CSS) loads
        html = (site/p).read_text(errors='replace')
        res[p] = static_problems(html) + broken_links(site, p, html)
    css = {(site/p).parent.joinpath(unquote(h)).resolve() for p in pages for h in _STYLESHEET.findall((site/p).read_text(errors='replace'))}
    css_probs = [f'{c.relative_to(site)}: {x}' for c in sorted(css) if c.is_file() for x in static_problems(c.read_text(errors='replace'))]
    srv, base = serve(site)
    profile = tempfile.mkdtemp(prefix='ci-chromium-')
    d = browser(profile)
    try:
        for p in pages:
            res[p] += check_page(d, base, p)
            if screenshots and p in ('index.html', MATH_PAGE):
                out.mkdir(parents=True, exist_ok=True)
                d.get(base + p); time.sleep(0.5)
                d.save_screenshot(str(f := out/(Path(p).stem + '.png')))
                print(f'browser test: screenshot of {p}: {f}')
        if 'index.html' in res: res['index.html'] += check_search(d, base)
    finally:
        d.quit(); srv.shutdown(); shutil.rmtree(profile, ignore_errors=True)
    if css_probs: res['(stylesheets)'] = css_probs
    return res


SELF_TEST_PAGES = {  # page -> (body, the problem it must report; None: a clean page)
    'index.html': ('<p>Clean: <math><mi>x</mi></math>, <code>re.compile(r"\\(")</code>, <a href="console.html#a">a link</a></p><img src="ok.svg">', None),
    'console.html': ('<script>console.error("boom")</script>', 'console error'),
    'missing_img.html': ('<img src="nothere.png">', 'image did not load'),
    'broken_img.html': ('<img src="broken.png">', 'image did not load'),
    'raw_tex.html': ('<p>The schedule \\(\\gamma(t)\\) is cosine.</p>', 'raw TeX'),
    'raw_display.html': ('<p>$$x_0 = \\hat x$$</p>', 'raw TeX'),
    'unconverted.html': ('<p><span class="math inline">\\frac{a}{b}</span></p>', 'math not rendered as MathML'),
    'missing_js.html': ('<script src="site_libs/nothere.js"></script>', 'failed request'),
    'external.html': ('<link rel="stylesheet" href="https://fonts.example.com/x.css">', 'outside the site'),
    'css_import.html': ('<link rel="stylesheet" href="bad.css">', 'outside the site'),
    'dead_link.html': ('<a href="nothere.html#x">a page that is not there</a>', 'broken link'),
}


def self_test():
    "Every defect of SELF_TEST_PAGES is reported on its page, and the clean page passes."
    site = Path(tempfile.mkdtemp(prefix='ci-browser-selftest-'))
    try:
        (site/'ok.svg').write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>')
        (site/'broken.png').write_bytes(b'not a png')
        (site/'bad.css').write_text('@import url("https://fonts.example.com/css2?family=Some+Font");')
        (site/'stale.css').write_text('@import url("https://fonts.example.com/css2?family=Unused");')  # not linked: ignored
        for p, (body, _) in SELF_TEST_PAGES.items():
            (site/p).write_text(f'<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="ok.svg"></head><body>{body}</body></html>')
        res = check_site(site, None, screenshots=False)
    finally: shutil.rmtree(site, ignore_errors=True)
    bad = []
    for p, (_, want) in SELF_TEST_PAGES.items():
        got = res.get(p, [])
        if want is None and got: bad.append(f'{p}: a clean page reported {got}')
        if want is not None and not any(want in g for g in got): bad.append(f'{p}: expected "{want}", got {got}')
    css = res.get('(stylesheets)', [])
    if not any(c.startswith('bad.css') for c in css) or any(c.startswith('stale.css') for c in css):
        bad.append(f'stylesheets: expected bad.css (linked) and not stale.css (not linked), got {css}')
    if bad: print('browser test self-test FAILED:\n  ' + '\n  '.join(bad)); return 1
    print(f'browser test self-test: each of {len(SELF_TEST_PAGES)-1} planted defects and the web font a linked stylesheet imports reported, the clean page passes')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('site', nargs='?', default='_docs')
    ap.add_argument('--out', default=os.environ.get('CI_ARTIFACTS') or os.path.join(tempfile.gettempdir(), 'ci-artifacts'))
    ap.add_argument('--self-test', action='store_true')
    a = ap.parse_args()
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK): sys.exit(f'browser test: {exe} not found (apt-get install -y chromium chromium-driver)')
    if a.self_test: return self_test()
    t0 = time.time()
    res = check_site(Path(a.site), Path(a.out))
    for p, probs in res.items():
        print(f"browser test: {'FAIL' if probs else 'ok  '} {p}")
        for x in probs[:20]: print(f'    {x}')
        if len(probs) > 20: print(f'    ... and {len(probs)-20} more')
    pages = [p for p in res if not p.startswith('(')]
    nbad = sum(bool(res[p]) for p in pages)
    print(f"browser test: {len(pages)} pages checked, {nbad} with problems{', stylesheets load from outside the site' if '(stylesheets)' in res else ''}, in {time.time()-t0:.1f} s")
    return 1 if any(res.values()) else 0


if __name__ == '__main__': sys.exit(main())
