// End-to-end scenarios for nblabel, run by tests/test_browser.py and bench/bench_browser.py.
//
//   node driver.mjs --chromium /usr/bin/chromium --url <notebook url> --scenario smoke|label|bench --out <dir> [...]
//
// Prints one JSON line with what it observed; exits non-zero (message on stderr) when a step fails.
// DOM hooks (data-testid, data-* state attributes) are documented by the widget in js/src and /work/widget-notes.md.
import path from 'node:path';
import { emit, launch, notebookOutputText, openNotebook, parseArgs, runAllCells, setTheme, stripAnsi } from './lab.mjs';

const args = parseArgs(process.argv.slice(2));
for (const required of ['chromium', 'url', 'scenario', 'out']) {
  if (!args[required]) throw new Error(`missing --${required}`);
}
const TIMEOUT = Number(args.timeout ?? 120_000);

const root = '[data-testid="nbl-root"]';
const tile = (index) => `${root} [data-testid="nbl-tile"][data-index="${index}"]`;

/** Read the root's state attributes (version, sent, acked, saved, busy, ready). */
async function rootState(page) {
  return page.$eval(root, (el) => ({
    version: Number(el.dataset.version),
    sent: Number(el.dataset.sent),
    acked: Number(el.dataset.acked),
    saved: el.dataset.saved === 'true',
    busy: el.dataset.busy === 'true',
    ready: el.dataset.ready === 'true',
  }));
}

/** Wait until the widget root exists and has drawn its first state; surface the fallback or a kernel error. */
async function waitForWidget(page) {
  await page.waitForSelector(`${root}[data-ready="true"], [data-testid="nbl-fallback"]`, { timeout: TIMEOUT });
  const fallback = await page.$('[data-testid="nbl-fallback"]');
  if (fallback) throw new Error(`widget front end not loaded: ${await fallback.textContent()}`);
}

/** Select tile `index` by clicking it, press `key`, wait for ack + journal commit + the tile's new label. */
async function labelTile(page, index, key, classIndex) {
  const before = await rootState(page);
  await page.click(tile(index));
  await page.waitForSelector(`${tile(index)}[data-selected="true"]`, { timeout: TIMEOUT });
  const t0 = Date.now();
  await page.keyboard.press(key);
  await page.waitForFunction(
    ({ sel, rootSel, cls, sent }) => {
      const el = document.querySelector(rootSel);
      const t = document.querySelector(sel);
      return (
        t && el && t.dataset.verified === String(cls) && Number(el.dataset.sent) > sent &&
        el.dataset.acked === el.dataset.sent && el.dataset.saved === 'true'
      );
    },
    { sel: tile(index), rootSel: root, cls: classIndex, sent: before.sent },
    { timeout: TIMEOUT, polling: 50 },
  );
  const savedMs = Date.now() - t0;
  await page.waitForFunction(
    ({ rootSel, v }) => Number(document.querySelector(rootSel).dataset.version) > v,
    { rootSel: root, v: before.version },
    { timeout: TIMEOUT, polling: 50 },
  );
  const after = await rootState(page);
  const shown = await page.$eval(tile(index), (t) => ({
    id: t.dataset.id,
    verified: Number(t.dataset.verified),
    predicted: Number(t.dataset.predicted),
    verifiedText: t.querySelector('.nbl-verified')?.textContent ?? '',
  }));
  return { index, key, classIndex, before, after, savedMs, ...shown };
}

/** Everything the page says about the injected class name: text present, no element or handler made from it. */
async function injectionReport(page, name) {
  return page.evaluate(({ rootSel, name }) => {
    const rootEl = document.querySelector(rootSel);
    const imgs = [...document.querySelectorAll('img')];
    return {
      rootTextHasName: rootEl.textContent.includes(name),
      classButtonTexts: [...rootEl.querySelectorAll('[data-testid^="nbl-class-"]')].map((b) => b.textContent),
      imgWithSrcX: imgs.filter((img) => img.getAttribute('src') === 'x').length,
      elementsWithOnerror: document.querySelectorAll('[onerror]').length,
      alertFired: Boolean(window.__nblabelAlertFired),
    };
  }, { rootSel: root, name });
}

/** Computed colours of the widget's surfaces, to tell whether it follows JupyterLab's theme. */
async function themeColors(page) {
  return page.evaluate((rootSel) => {
    const el = document.querySelector(rootSel);
    const tileEl = el.querySelector('[data-testid="nbl-tile"]');
    return {
      bodyIsLight: document.body.dataset.jpThemeLight,
      rootBackground: getComputedStyle(el).backgroundColor,
      rootColor: getComputedStyle(el).color,
      tileBackground: tileEl ? getComputedStyle(tileEl).backgroundColor : null,
    };
  }, root);
}

async function scenarioSmoke(page) {
  await runAllCells(page, { timeout: TIMEOUT });
  const button = '[data-testid="smoke-button"]';
  await page.waitForSelector(button, { timeout: TIMEOUT });
  await page.click(button);
  await page.waitForFunction((sel) => document.querySelector(sel).textContent === 'count 1', button, {
    timeout: TIMEOUT,
  });
  await page.screenshot({ path: path.join(args.out, 'smoke.png') });
  return { buttonText: await page.textContent(button) };
}

async function scenarioLabel(page) {
  // A page-side trap as well as the dialog listener: an injected handler would call window.alert.
  await page.evaluate(() => {
    window.__nblabelAlertFired = false;
    window.alert = () => { window.__nblabelAlertFired = true; };
  });
  await runAllCells(page, { timeout: TIMEOUT });
  await waitForWidget(page);
  const initial = await rootState(page);
  const xssName = args['xss-name'];
  // The first two tiles of the first page, whatever order the widget lists items in.
  const onPage = await page.$$eval(`${root} [data-testid="nbl-tile"]`, (tiles) => tiles.map((t) => Number(t.dataset.index)));
  if (onPage.length < 2) throw new Error(`expected at least 2 tiles on the first page, got ${onPage.length}`);
  const first = await labelTile(page, onPage[0], String(args.key ?? '2'), Number(args['class-index'] ?? 1));
  const saved = await page.$eval(`${root} [data-testid="nbl-saved"]`, (el) => ({
    state: el.dataset.saved,
    text: el.textContent,
  }));
  // Label a second tile with the injected class so its name is also rendered inside a tile.
  const second = xssName
    ? await labelTile(page, onPage[1], String(args['xss-key'] ?? '3'), Number(args['xss-class-index'] ?? 2))
    : null;
  // The layout is computed on a kernel thread while the grid is already usable; the screenshot wants both.
  await page.waitForFunction(
    (sel) => {
      // data-points is set (on the scatter box or the plot inside it) once plotly has drawn the points.
      const sc = document.querySelector(`${sel} [data-testid="nbl-scatter"]`);
      const drawn = sc && (sc.dataset.points ? sc : sc.querySelector('[data-points]'));
      return drawn && Number(drawn.dataset.points) > 0 && sc.querySelector('canvas');
    },
    root,
    { timeout: TIMEOUT, polling: 200 },
  );
  await page.waitForFunction(allThumbsLoaded, root, { timeout: TIMEOUT, polling: 200 });
  // Keep the first tile selected in the screenshot: it shows the verified label just set.
  await page.click(tile(first.index));
  await page.waitForTimeout(300);
  const widget = await page.$(root);
  await widget.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(args.out, 'label-light.png') });
  await widget.screenshot({ path: path.join(args.out, 'widget-light.png') });
  const light = await themeColors(page);
  let dark = null;
  if (args.dark) {
    await setTheme(page, 'JupyterLab Dark');
    await page.waitForTimeout(500);
    await widget.screenshot({ path: path.join(args.out, 'widget-dark.png') });
    dark = await themeColors(page);
  }
  const injection = xssName ? await injectionReport(page, xssName) : null;
  return { initial, first, second, saved, injection, light, dark };
}

/** Count bytes received on every WebSocket (the kernel channel included); installed before the page loads. */
function countWebSocketBytes() {
  window.__wsBytesIn = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const d = e.data;
        window.__wsBytesIn += typeof d === 'string' ? new TextEncoder().encode(d).length : d.byteLength ?? d.size;
      });
    }
  };
}

/** Select cell `index` and run it alone; resolves to the page-clock time of the request. */
async function runCell(page, index) {
  return page.evaluate((i) => {
    const app = window.jupyterapp;
    app.shell.currentWidget.content.activeCellIndex = i;
    const t = performance.now();
    app.commands.execute('notebook:run-cell');
    return t;
  }, index);
}

async function waitCellDone(page, index, timeout) {
  await page.waitForFunction(
    (i) => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
      return cell.model.executionCount !== null || cell.model.outputs.toJSON().some((o) => o.output_type === 'error');
    },
    index,
    { timeout, polling: 100 },
  );
  const outputs = await page.evaluate((i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.toJSON(), index);
  const error = outputs.find((o) => o.output_type === 'error');
  if (error) throw new Error(`cell ${index} failed: ${error.ename}: ${error.evalue}\n${(error.traceback || []).join('\n')}`);
  return outputs.filter((o) => o.output_type === 'stream').map((o) => o.text).join('');
}

/** Page-clock time at which `predicate(arg)` first holds, checked every animation frame. */
async function timeWhen(page, predicate, arg, timeout) {
  const handle = await page.waitForFunction(
    ({ src, a }) => (new Function('a', `return (${src})(a);`)(a) ? performance.now() : false),
    { src: predicate.toString(), a: arg },
    { timeout, polling: 'raf' },
  );
  return handle.jsonValue();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

/** Thumbnails of the grid page currently shown: how many tiles, how many decoded images, and their bytes. */
async function pageThumbs(page) {
  return page.evaluate(async (rootSel) => {
    const imgs = [...document.querySelectorAll(`${rootSel} [data-testid="nbl-tile"] img.nbl-thumb`)];
    const sizes = await Promise.all(imgs.map(async (img) => (await (await fetch(img.src)).blob()).size));
    return { tiles: document.querySelectorAll(`${rootSel} [data-testid="nbl-tile"]`).length, images: imgs.length,
      payloadBytes: sizes.reduce((a, b) => a + b, 0) };
  }, root);
}

const allThumbsLoaded = (rootSel) => {
  const tiles = document.querySelectorAll(`${rootSel} [data-testid="nbl-tile"]`);
  const imgs = [...document.querySelectorAll(`${rootSel} [data-testid="nbl-tile"] img.nbl-thumb`)];
  return tiles.length > 0 && imgs.length === tiles.length && imgs.every((img) => img.complete && img.naturalWidth > 0);
};

async function scenarioBench(page) {
  const n = Number(args.n);
  const presses = Number(args.presses ?? 5);
  const flips = Number(args.flips ?? 3);
  const setupLog = await (async () => { await runCell(page, 0); return waitCellDone(page, 0, TIMEOUT); })();

  // 1. Widget cell run -> grid drawn -> scatter drawn (all n points handed to plotly and painted).
  const tRun = await runCell(page, 1);
  const tGrid = await timeWhen(page, (sel) => document.querySelector(`${sel}[data-ready="true"]`), root, TIMEOUT);
  const tScatter = await timeWhen(
    page,
    ({ sel, count }) => {
      const sc = document.querySelector(`${sel} [data-testid="nbl-scatter"]`);
      const drawn = sc && (sc.dataset.points ? sc : sc.querySelector('[data-points]'));
      return drawn && Number(drawn.dataset.points) === count && sc.querySelector('canvas');
    },
    { sel: root, count: n },
    TIMEOUT,
  );
  const tThumbs = await timeWhen(page, allThumbsLoaded, root, TIMEOUT);
  await waitCellDone(page, 1, TIMEOUT);

  // 2. Thumbnail pages: bytes received on the wire and image payload per page flip (ArrowRight).
  await page.click(`${root} [data-testid="nbl-tile"]`);
  const pages = [];
  for (let f = 0; f < flips; f++) {
    const label = await page.textContent(`${root} [data-testid="nbl-page-label"]`);
    const bytes0 = await page.evaluate(() => window.__wsBytesIn);
    const t0 = await page.evaluate(() => performance.now());
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(
      ({ sel, old }) => document.querySelector(`${sel} [data-testid="nbl-page-label"]`).textContent !== old,
      { sel: root, old: label },
      { timeout: TIMEOUT },
    );
    const t1 = await timeWhen(page, allThumbsLoaded, root, TIMEOUT);
    const thumbs = await pageThumbs(page);
    pages.push({ ms: t1 - t0, wireBytes: (await page.evaluate(() => window.__wsBytesIn)) - bytes0, ...thumbs });
  }

  // 3. Key press -> updated predictions drawn: the first state with a higher version and LP caught up (busy=false).
  await page.evaluate((sel) => {
    const el = document.querySelector(sel);
    window.__nblBench = { keyAt: null, versions: [], savedAt: null };
    document.addEventListener('keydown', () => { window.__nblBench.keyAt = performance.now(); }, true);
    new MutationObserver(() => {
      const rec = window.__nblBench;
      const last = rec.versions[rec.versions.length - 1];
      if (!last || last.version !== Number(el.dataset.version)) {
        rec.versions.push({ t: performance.now(), version: Number(el.dataset.version), busy: el.dataset.busy });
      }
      if (rec.savedAt === null && rec.keyAt !== null && el.dataset.saved === 'true' && el.dataset.acked === el.dataset.sent) {
        rec.savedAt = performance.now();
      }
    }).observe(el, { attributes: true, attributeFilter: ['data-version', 'data-saved', 'data-acked', 'data-busy'] });
  }, root);
  const nClasses = await page.$$eval(`${root} [data-testid^="nbl-class-"][data-class-index]`, (b) => b.length);
  const tiles = await page.$$eval(`${root} [data-testid="nbl-tile"]`, (ts) => ts.map((t) => Number(t.dataset.index)));
  const keyRuns = [];
  for (let r = 0; r < presses; r++) {
    const index = tiles[r % tiles.length];
    await page.click(tile(index));
    await page.waitForSelector(`${tile(index)}[data-selected="true"]`);
    // Let any LP still running from the previous press finish, so each press is timed on its own.
    await page.waitForSelector(`${root}[data-busy="false"][data-saved="true"]`, { timeout: TIMEOUT });
    const v0 = (await rootState(page)).version;
    await page.evaluate(() => { Object.assign(window.__nblBench, { keyAt: null, versions: [], savedAt: null }); });
    await page.keyboard.press(String((r % Math.min(nClasses, 9)) + 1));
    const shown = await page.waitForFunction(
      (v) => {
        const rec = window.__nblBench;
        const done = rec.versions.find((x) => x.version > v && x.busy === 'false');
        return done && rec.savedAt !== null ? { ...done, keyAt: rec.keyAt, savedAt: rec.savedAt, n: rec.versions.length } : false;
      },
      v0,
      { timeout: TIMEOUT, polling: 'raf' },
    );
    const rec = await shown.jsonValue();
    keyRuns.push({ predictionsMs: rec.t - rec.keyAt, savedMs: rec.savedAt - rec.keyAt, snapshots: rec.n });
  }
  return {
    n,
    setupLog,
    gridMs: tGrid - tRun,
    scatterMs: tScatter - tRun,
    thumbsMs: tThumbs - tRun,
    pages,
    keyRuns,
    medianPredictionsMs: median(keyRuns.map((k) => k.predictionsMs)),
    medianSavedMs: median(keyRuns.map((k) => k.savedMs)),
  };
}

const SCENARIOS = { smoke: scenarioSmoke, label: scenarioLabel, bench: scenarioBench };

const scenario = SCENARIOS[args.scenario];
if (!scenario) throw new Error(`unknown --scenario ${args.scenario}; expected one of ${Object.keys(SCENARIOS)}`);
const browser = await launch(args.chromium);
let exitCode = 0;
try {
  await browser.page.addInitScript(countWebSocketBytes);
  await openNotebook(browser.page, args.url, { timeout: TIMEOUT });
  const result = await scenario(browser.page);
  emit({ ok: true, scenario: args.scenario, ...result, events: browser.events });
} catch (err) {
  exitCode = 1;
  process.stderr.write(`${err.stack ?? err}\n--- browser events\n${JSON.stringify(browser.events, null, 1)}\n`);
  try {
    process.stderr.write(`--- notebook outputs\n${stripAnsi(await notebookOutputText(browser.page)).slice(-4000)}\n`);
    await browser.page.screenshot({ path: path.join(args.out, `failure-${args.scenario}.png`) });
  } catch (inner) {
    process.stderr.write(`(could not collect notebook outputs: ${inner})\n`);
  }
} finally {
  await browser.close();
}
process.exit(exitCode);
