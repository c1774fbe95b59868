"""README.md is generated from nbs/index.ipynb; this prints its set-up commands and checks it is in sync.

usage: python .ci/readme_cmds.py main|test|write|check
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render():
    "Markdown of nbs/index.ipynb: markdown cells verbatim, code cells as python blocks (outputs dropped), record cells rendered from their records."
    nb = json.loads((root / 'nbs' / 'index.ipynb').read_text())
    parts = ['<!-- generated from nbs/index.ipynb by `python .ci/readme_cmds.py write`; edit the notebook -->']
    shown = None
    for i, c in enumerate(nb['cells']):
        src = ''.join(c['source']).strip()
        if not src or src.startswith('#| hide'): continue
        if c['cell_type'] == 'markdown': src = src.replace('](images/', '](nbs/images/')  # links relative to the repo root
        elif 'show_record(' in src:
            if shown is None:
                from polygrad.results import record_cells, _view_of  # needs the installed package (write / check only)
                shown = dict(record_cells(root / 'nbs' / 'index.ipynb'))
            if i in shown:  # a record: its tables, figure linked, as the notebook shows it (files relative to the repo root)
                parts.append(_view_of(src, root / 'nbs').markdown(links=True)); continue
        parts.append(src if c['cell_type'] == 'markdown' else f"```python\n{src}\n```")
    return '\n\n'.join(parts) + '\n'

def commands(text):
    return re.findall(r"```sh\n(python3 -m venv.*?)\n```", text)

if __name__ == '__main__':
    what = sys.argv[1] if len(sys.argv) > 1 else 'check'
    readme = (root / 'README.md').read_text() if (root / 'README.md').exists() else ''
    if what == 'write': (root / 'README.md').write_text(render())
    elif what == 'check': sys.exit(0 if readme == render() else 1)
    elif what in ('main', 'test'):
        cmds = commands(readme)
        if len(cmds) != 2: sys.exit(f"README.md must hold exactly two set-up commands, found {len(cmds)}")
        print(cmds[0] if what == 'main' else cmds[1])
    else: sys.exit(__doc__)
