"""Quarto post-render step (nbs/_quarto.yml): links to the site's own pages become relative.

nbdev writes the links of `backticked` names as absolute URLs under doc_host + doc_baseurl (settings.ini), so a
copy of the site read from disk or from a local server would send the reader to the published site (which may
not exist). Each `href="<site url>/page.html#anchor"` whose page was rendered becomes `href="page.html#anchor"`
(relative to the linking page). Other links are left alone.

usage: python .ci/docs_relink.py [OUTPUT_DIR]   (default: $QUARTO_PROJECT_OUTPUT_DIR, set by Quarto)
"""
import configparser, os, posixpath, re, sys
from pathlib import Path

def site_url():
    "doc_host + doc_baseurl of settings.ini (the URL nbdev puts in front of its links)."
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).resolve().parent.parent/'settings.ini')
    d = cfg['DEFAULT']
    return d['doc_host'].rstrip('/') + '/' + d.get('doc_baseurl', '').strip('/')

def relink(out, url):
    "Rewrite the links to `url`'s pages in every HTML file under `out`; returns the number of links rewritten."
    out = Path(out); url = url.rstrip('/') + '/'
    pat = re.compile(r'href="' + re.escape(url) + r'([^"#?]*)([^"]*)"')
    n = 0
    for f in out.rglob('*.html'):
        here = f.parent.relative_to(out).as_posix()
        def sub(m):
            nonlocal n
            page, rest = m.group(1) or 'index.html', m.group(2)
            if not (out/page).is_file(): return m.group(0)
            n += 1
            return f'href="{posixpath.relpath(page, here)}{rest}"'
        s = f.read_text(encoding='utf-8'); t = pat.sub(sub, s)
        if t != s: f.write_text(t, encoding='utf-8')
    return n

if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('QUARTO_PROJECT_OUTPUT_DIR')
    if not out: sys.exit('docs_relink: give the output folder (or run it as a Quarto post-render script)')
    print(f'docs_relink: {relink(out, site_url())} links to the site made relative in {out}')
