"""Browser test of the explorer (nbs/14_explore.ipynb) in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab (token-less, on a free local port, in a temporary directory holding a copy of the notebook),
opens the notebook with Selenium and Debian's chromium-driver, runs all cells, checks that no cell failed and
that both views of every explorer were drawn, moves the step slider of the first explorer with the keyboard,
and asserts that the slider's readout, the PNG of view 1 and the pixels on screen changed.

usage: python .ci/browser_explorer.py [--keep]    (--keep: leave the temporary directory with logs and screenshots)
Without Chromium, chromedriver or selenium it prints one line starting with 'SKIP' and exits 0.
"""
import os, sys, time, json, shutil, socket, subprocess, tempfile, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB = '14_explore.ipynb'
T_START = time.time()

def say(msg): print(f"browser test [{time.time() - T_START:5.1f} s]: {msg}", flush=True)

def skip(why):
    print(f"SKIP browser test of the explorer: {why}", flush=True)
    sys.exit(0)

def which(*names):
    for n in names:
        p = n if os.path.isabs(n) else shutil.which(n)
        if p and os.path.exists(p) and os.access(p, os.X_OK): return p
    return None

CHROMIUM = which('/usr/bin/chromium', 'chromium', 'chromium-browser', 'google-chrome')
DRIVER = which('/usr/bin/chromedriver', 'chromedriver')
if not CHROMIUM or not DRIVER: skip("no Chromium or chromedriver installed (Debian: apt-get install -y chromium chromium-driver)")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains
except ImportError: skip("the selenium package is not installed (pip install selenium)")

class Failed(Exception): pass

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_for(what, fn, timeout, every=0.5):
    "Poll `fn` until it returns something truthy; its last value, or Failed after `timeout` seconds."
    end = time.time() + timeout
    while True:
        v = fn()
        if v: return v
        if time.time() > end: raise Failed(f"timed out after {timeout} s waiting for {what} (last: {v!r})")
        time.sleep(every)

# The notebook panel: kernel status, number of code cells, how many have run, the errors among their outputs.
JS_STATE = """
const app = window.jupyterapp; if (!app) return null;
const w = app.shell.currentWidget;
if (!w || !w.sessionContext || !w.content || !w.content.widgets) return null;
const k = w.sessionContext.session && w.sessionContext.session.kernel;
const code = w.content.widgets.filter(c => c.model.type === 'code');
const errors = [];
for (const c of code) for (const o of c.model.outputs.toJSON()) if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
return {kernel: k ? k.status : 'none', n: code.length, done: code.filter(c => c.model.executionCount !== null).length,
        errors: errors, path: w.context.path};
"""

def main(keep=False):
    tmp = Path(tempfile.mkdtemp(prefix='browser-explorer-'))
    work = tmp / 'work'; work.mkdir()
    shutil.copy(ROOT / 'nbs' / NB, work / NB)  # a copy: JupyterLab saves what it runs
    settings = tmp / 'lab-settings' / '@jupyterlab' / 'notebook-extension'
    settings.mkdir(parents=True)
    # every cell in the DOM (no virtual scrolling), so the explorer's widgets can be found wherever they are
    (settings / 'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))
    env = {k: v for k, v in os.environ.items() if k not in ('MPLBACKEND', 'IN_TEST', 'JUPYTER_TOKEN')}
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [x for x in [env.get('PYTHONPATH')] if x])  # this checkout's polygrad
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # torch's threads sleep at barriers: a CPU shared with the browser stays usable
    env.update(JUPYTER_CONFIG_DIR=str(tmp / 'config'), JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'), IPYTHONDIR=str(tmp / 'ipython'),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / 'lab-settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp / 'workspaces'))
    port = free_port()
    log = open(tmp / 'jupyterlab.log', 'w')
    lab = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1',
                            "--ServerApp.token=", "--ServerApp.password=", '--ServerApp.disable_check_xsrf=True',
                            '--LabApp.expose_app_in_browser=True', f'--ServerApp.root_dir={work}', '--allow-root',
                            '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                           cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    drv, ok = None, False
    try:
        url = f'http://127.0.0.1:{port}'
        def up():
            if lab.poll() is not None: raise Failed(f"JupyterLab exited with code {lab.returncode}; see {tmp / 'jupyterlab.log'}")
            try: return urllib.request.urlopen(f'{url}/api/status', timeout=2).status == 200
            except OSError: return False
        wait_for('JupyterLab to answer', up, 90)
        say(f"JupyterLab {url} is up")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1500,1100',
                  f'--user-data-dir={tmp / "chromium-profile"}'):
            opts.add_argument(a)
        drv = webdriver.Chrome(service=Service(DRIVER, log_output=str(tmp / 'chromedriver.log')), options=opts)
        drv.set_script_timeout(30)
        drv.get(f'{url}/lab/tree/{NB}')
        st = wait_for('the notebook and its kernel', lambda: (lambda s: s if s and s['kernel'] == 'idle' and s['path'].endswith(NB) else None)(drv.execute_script(JS_STATE)), 120)
        say(f"notebook open, kernel idle, {st['n']} code cells; running all cells")
        drv.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        t_run = time.time()
        def finished():
            s = drv.execute_script(JS_STATE)
            if s['errors']: raise Failed(f"a cell failed in JupyterLab: {s['errors'][0]}")
            return s if s['done'] == s['n'] and s['kernel'] == 'idle' else None
        st = wait_for('all cells to run', finished, 400, every=1)
        say(f"all {st['n']} cells ran in {time.time() - t_run:.1f} s without error")
        n_ex = wait_for('the explorers to render', lambda: len(drv.find_elements(By.CSS_SELECTOR, '.polygrad-explorer')), 30)
        def drawn():
            imgs = drv.find_elements(By.CSS_SELECTOR, 'img.polygrad-view1, img.polygrad-view2')
            w = [drv.execute_script("return arguments[0].complete ? arguments[0].naturalWidth : 0;", i) for i in imgs]
            return len(imgs) == 2 * n_ex and all(x > 100 for x in w)
        wait_for('both views of every explorer to be drawn', drawn, 30)
        say(f"{n_ex} explorer(s) on the page, both views drawn")
        box = drv.find_elements(By.CSS_SELECTOR, '.polygrad-explorer')[0]
        status = box.find_element(By.CSS_SELECTOR, '.polygrad-status').text
        if 'KS' not in status: raise Failed(f"the status line of the explorer shows no KS distance: {status!r}")
        img = box.find_element(By.CSS_SELECTOR, 'img.polygrad-view1')
        readout = box.find_element(By.CSS_SELECTOR, '.polygrad-step .widget-readout')
        handle = box.find_element(By.CSS_SELECTOR, '.polygrad-step .noUi-handle')
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        time.sleep(0.5)
        src0, shot0, r0 = img.get_attribute('src'), img.screenshot_as_png, readout.text
        (tmp / 'view1-before.png').write_bytes(shot0)
        ActionChains(drv).click(handle).perform()
        for _ in range(5): handle.send_keys(Keys.ARROW_RIGHT); time.sleep(0.1)
        try: wait_for('the slider readout to move', lambda: readout.text != r0, 10)
        except Failed:  # the keyboard did not move it: drag the handle
            say("the keyboard did not move the slider; dragging it")
            ActionChains(drv).click_and_hold(handle).move_by_offset(60, 0).release().perform()
            wait_for('the slider readout to move', lambda: readout.text != r0, 10)
        time.sleep(1)
        r1 = readout.text
        # the kernel redraws once per step the slider passed; wait for the image of the last one
        shown = box.find_element(By.CSS_SELECTOR, '.polygrad-shown')
        wait_for(f'view 1 to show t = {r1}', lambda: shown.text.startswith(f'view 1 shows t = {r1},'), 90)
        if img.get_attribute('src') == src0: raise Failed("the label says view 1 was redrawn but its image is the same")
        time.sleep(0.5)
        shot1 = img.screenshot_as_png
        (tmp / 'view1-after.png').write_bytes(shot1)
        if shot1 == shot0: raise Failed("view 1 got a new image but the pixels on screen did not change")
        say(f"slider moved from t = {r0} to t = {r1}; view 1 redrawn (new image, {len(shot1)} bytes on screen, differs from before)")
        drv.save_screenshot(str(tmp / 'page.png'))
        ok = True
    except Failed as e:
        print(f"FAIL browser test of the explorer: {e}", flush=True)
        if drv is not None:
            try: drv.save_screenshot(str(tmp / 'failure.png'))
            except Exception: pass
        keep = True
    finally:
        if drv is not None: drv.quit()
        lab.terminate()
        try: lab.wait(20)
        except subprocess.TimeoutExpired: lab.kill(); lab.wait()
        log.close()
        if keep: print(f"browser test: logs and screenshots kept in {tmp}", flush=True)
        else: shutil.rmtree(tmp, ignore_errors=True)
    say('passed' if ok else 'failed')
    return 0 if ok else 1

if __name__ == '__main__':
    sys.exit(main(keep='--keep' in sys.argv[1:]))
