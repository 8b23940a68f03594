/** The dashboard's shell: navigation, the hash router, and the token prompt when the API says 401. */
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getToken, onUnauthorized, setToken } from './api.js';
import { useApi, useRoute } from './hooks.js';
import { Episode } from './pages/episode.js';
import { ExperimentPage, Experiments } from './pages/experiments.js';
import { Overview } from './pages/overview.js';
import { Problems } from './pages/problems.js';
import { TaskPage } from './pages/task.js';
import { Tasks } from './pages/tasks.js';
import { Workers } from './pages/workers.js';

const NAV = [
  ['#/', 'Overview'],
  ['#/tasks', 'Tasks'],
  ['#/experiments', 'Experiments'],
  ['#/workers', 'Workers'],
  ['#/problems', 'Problems'],
];

/** The page for a path, and its title. */
function pageFor(path, query) {
  let m = /^\/tasks\/([^/]+)\/episode$/.exec(path);
  if (m) return [html`<${Episode} id=${m[1]} query=${query} />`, 'Episode'];
  m = /^\/tasks\/([^/]+)$/.exec(path);
  if (m) return [html`<${TaskPage} id=${m[1]} />`, 'Task'];
  m = /^\/experiments\/([^/]+)$/.exec(path);
  if (m) return [html`<${ExperimentPage} id=${m[1]} />`, 'Experiment'];
  if (path === '/tasks') return [html`<${Tasks} query=${query} />`, 'Tasks'];
  if (path === '/experiments') return [html`<${Experiments} query=${query} />`, 'Experiments'];
  if (path === '/workers') return [html`<${Workers} />`, 'Workers'];
  if (path === '/problems') return [html`<${Problems} query=${query} />`, 'Problems'];
  if (path === '/') return [html`<${Overview} />`, 'Overview'];
  return [
    html`<h1>Not found</h1><p>No page at <code>${path}</code>. <a href="#/">Overview</a></p>`,
    'Not found',
  ];
}

function App() {
  const { path, query } = useRoute();
  // `/` names the docs page (or the OpenAPI document when the page is off).
  const root = useApi('/');
  const [needToken, setNeedToken] = useState(false);
  // Bumped when a token is entered: every page is rebuilt and reads again with it.
  const [epoch, setEpoch] = useState(0);
  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  const [page, title] = pageFor(path, query);
  useEffect(() => {
    document.title = `${title} · Task Executor`;
  }, [title]);
  const section = `#/${path.split('/')[1] ?? ''}`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => {
      e.preventDefault();
      document.getElementById('main')?.focus();
    }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">Task Executor</a>
      <nav aria-label="Main"><ul>${NAV.map(
        ([href, label]) =>
          html`<li><a href=${href} aria-current=${href === section || (href === '#/' && section === '#/') ? 'page' : undefined}>${label}</a></li>`,
      )}</ul></nav>
      <span class="spacer"></span>
      ${
        getToken()
          ? html`<button type="button" class="link" onClick=${() => {
              setToken('');
              setEpoch((n) => n + 1);
            }}>Forget token</button>`
          : null
      }
      <a href=${root.data?.docs ?? '/openapi.json'} class="muted">API docs</a>
    </header>
    ${
      needToken
        ? html`<${TokenPrompt} onDone=${() => {
            setNeedToken(false);
            setEpoch((n) => n + 1);
          }} />`
        : null
    }
    <main id="main" tabindex="-1" key=${`${epoch}:${path}`}>${page}</main>`;
}

/** Asks for an API token (client or admin role) and keeps it in sessionStorage for this tab. */
function TokenPrompt({ onDone }) {
  const input = useRef(/** @type {HTMLInputElement | null} */ (null));
  useEffect(() => input.current?.focus(), []);
  const save = (/** @type {Event} */ e) => {
    e.preventDefault();
    setToken(input.current?.value.trim() ?? '');
    onDone();
  };
  return html`<div class="token-prompt" role="dialog" aria-modal="false" aria-labelledby="tok-h">
    <form onSubmit=${save}>
      <h2 id="tok-h">This server needs an API token</h2>
      <p>Paste a token with the <code>client</code> (or <code>admin</code>) role. It is kept for this browser tab only.</p>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required ref=${input} />
      <button type="submit">Use token</button>
    </form>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
