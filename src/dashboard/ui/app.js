// The Souk testnet dashboard: preact + htm (no build step), uPlot for the time series. It reads /api/events
// (server-sent events: the whole snapshot on connect and after every change) and renders it; /api/state is the same
// snapshot on request. See docs/dashboard.md.
import { h, render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'

const html = htm.bind(h)

// uPlot formats numbers with navigator.language when it loads; a browser started under a POSIX locale reports tags
// such as "en-US@posix" that Intl refuses, and uPlot would fail to load. Such a tag is replaced before uPlot loads.
try { new Intl.NumberFormat(navigator.language) } catch { Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true }) }
const uPlotReady = new Promise((resolve, reject) => {
  const s = document.createElement('script')
  s.src = '/vendor/uPlot.iife.min.js'
  s.onload = () => resolve(window.uPlot)
  s.onerror = () => reject(new Error('cannot load uPlot'))
  document.head.appendChild(s)
})

// --- formatting
const toBig = (s) => { try { return BigInt(s ?? 0) } catch { return 0n } }
/** Token units (wei) as SOUK with 6 decimals, exactly. */
export function tok(s) {
  const v = toBig(s), neg = v < 0n, a = neg ? -v : v
  const whole = a / 10n ** 18n, frac = ((a % 10n ** 18n) / 10n ** 12n).toString().padStart(6, '0')
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}.${frac}`
}
const int = (n) => Number(n ?? 0).toLocaleString('en-US')
const gas = (s) => toBig(s).toLocaleString('en-US')
const short = (s, n = 10) => (s && s.length > n + 2 ? `${s.slice(0, n)}…` : s ?? '')
/** 1234567 → 1.23M: chart axes. */
const si = (v) => { const a = Math.abs(v); return a >= 1e9 ? `${+(v / 1e9).toFixed(2)}G` : a >= 1e6 ? `${+(v / 1e6).toFixed(2)}M` : a >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(2)}` }
const mib = (b) => `${(Number(b ?? 0) / 1048576).toFixed(2)} MiB`
const ago = (ms, now) => { const s = Math.max(0, Math.round((now - ms) / 1000)); return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` }

// --- pieces
const Card = ({ title, id, wide, children, note }) => html`
  <section class=${`card${wide ? ' wide' : ''}`} id=${id}>
    <h2>${title}${note ? html` <small>${note}</small>` : null}</h2>
    ${children}
  </section>`

const Stat = ({ label, value, id }) => html`<div class="stat" id=${id}><b>${value}</b><span>${label}</span></div>`

function Header({ s, live }) {
  const status = s.status === 'finished' ? (s.ok ? 'finished: OK' : 'finished: NOT OK') : s.status
  const cls = s.status === 'finished' ? (s.ok ? 'ok' : 'bad') : s.status === 'running' ? 'run' : 'wait'
  return html`
    <header>
      <h1>Souk testnet <span class="market">${s.market ?? '…'}${s.scheme ? ` · ${s.scheme}` : ''}</span></h1>
      <span class=${`pill ${cls}`} id="status">${status}</span>
      <span class=${`pill ${live ? 'live' : 'off'}`} id="live" title="server-sent events from /api/events">${live ? 'live' : 'reconnecting…'}</span>
      <div class="stats">
        <${Stat} id="stat-block" label="block" value=${s.chain.block ?? '–'} />
        <${Stat} id="stat-txs" label="transactions" value=${int(s.chain.transactions)} />
        <${Stat} id="stat-gas" label="gas" value=${gas(s.chain.gasUsed)} />
        <${Stat} id="stat-peers" label="peers" value=${s.peers.length} />
        <${Stat} id="stat-events" label="events" value=${int(s.events)} />
      </div>
    </header>`
}

function ChainCard({ s }) {
  const c = s.chain
  return html`<${Card} title="Chain" id="chain">
    <dl class="kv">
      <dt>RPC URL</dt><dd id="rpc-url">${c.rpcUrl ?? '–'}</dd>
      <dt>data dir</dt><dd id="data-dir">${c.dataDir ?? '–'}</dd>
      <dt>deployment</dt><dd>${c.deploymentPath ?? '–'}</dd>
      ${Object.entries(c.contracts).map(([n, a]) => html`<dt>${n}</dt><dd class="mono">${a}</dd>`)}
    </dl>
    ${c.accounts.length ? html`<h3>accounts</h3><dl class="kv">${c.accounts.map((a) => html`<dt>${a.name}</dt><dd class="mono">${a.address}</dd>`)}</dl>` : null}
  <//>`
}

function PeersCard({ s, now }) {
  const roles = Object.entries(s.roles).map(([r, n]) => `${n} ${r}${n === 1 ? '' : 's'}`).join(', ')
  return html`<${Card} title="Peers" id="peers" note=${roles}>
    <table><thead><tr><th>name</th><th>role</th><th>state</th><th>behaviour</th><th>peer id</th><th>address</th><th>events</th></tr></thead>
    <tbody>${s.peers.map((p) => html`<tr data-peer=${p.name} key=${p.name}>
      <td>${p.name}</td><td>${p.role}</td><td><span class=${`st ${p.state}`}>${p.state}</span> <small>${ago(p.since, now)}</small></td>
      <td class=${p.behaviour && p.behaviour !== 'honest' ? 'warn' : ''}>${p.behaviour ?? ''}</td>
      <td class="mono" title=${p.peerId}>${short(p.peerId, 14)}</td><td class="mono" title=${p.address}>${short(p.address, 12)}</td><td class="num">${p.events}</td></tr>`)}</tbody></table>
  <//>`
}

function DealsCard({ s }) {
  const states = Object.entries(s.deals.byState)
  return html`<${Card} title="Deals" id="deals" note="by state">
    <div class="chips">${states.length ? states.map(([st, n]) => html`<span class="chip" data-deal-state=${st}><b>${n}</b> ${st}</span>`) : html`<span class="muted">none yet</span>`}</div>
    <table><thead><tr><th>deal</th><th>state</th><th>client</th><th>server</th><th>price</th></tr></thead>
    <tbody>${s.deals.list.slice(-12).map((d) => html`<tr key=${d.id}><td class="mono" title=${d.id}>${short(d.id, 14)}</td><td>${d.state}</td><td>${d.client ?? ''}</td><td>${d.server ?? ''}</td><td class="num">${d.price ? tok(d.price) : ''}</td></tr>`)}</tbody></table>
  <//>`
}

/** expected ± 2σ as a bar, the awarded amount as a tick. */
function Band({ r }) {
  if (r.low === null || r.high === null) return html`<span class="muted">–</span>`
  const hi = Number(toBig(r.high)) * 1.15 || 1
  const x = (v) => Math.max(0, Math.min(100, (Number(toBig(v)) / hi) * 100))
  return html`<svg class="band" viewBox="0 0 100 14" preserveAspectRatio="none" aria-label="expected payout band">
    <rect x=${x(r.low)} y="3" width=${Math.max(0.8, x(r.high) - x(r.low))} height="8" class="b" />
    <line x1=${x(r.expected)} x2=${x(r.expected)} y1="1" y2="13" class="e" />
    <line x1=${x(r.awarded)} x2=${x(r.awarded)} y1="0" y2="14" class=${r.inBand ? 'a' : 'a out'} />
  </svg>`
}

function PaymentsCard({ s }) {
  const p = s.payments
  return html`<${Card} title="Payments" id="payments" wide note="expected payout against actual, per server; band = expected ± 2σ">
    <div class="stats">
      <${Stat} id="tickets-issued" label="tickets issued" value=${int(p.ticketsIssued)} />
      <${Stat} id="tickets-won" label="won" value=${int(p.won)} />
      <${Stat} id="tickets-redeemed" label="redeemed on chain" value=${int(p.redeemed)} />
      <${Stat} label="redeem transactions" value=${int(p.redeemTransactions)} />
      <${Stat} label="expected (SOUK)" value=${tok(p.expected)} />
      <${Stat} label="awarded (SOUK)" value=${tok(p.awarded)} />
      <${Stat} label="on chain (SOUK)" value=${tok(p.onChain)} />
    </div>
    <table><thead><tr><th>server</th><th>tickets</th><th>won</th><th>expected</th><th>awarded</th><th>on chain</th><th>−2σ … +2σ</th><th class="bandcol">band</th></tr></thead>
    <tbody>${p.servers.map((r) => html`<tr data-server=${r.name} key=${r.name}>
      <td>${r.name}</td><td class="num">${int(r.tickets)}</td><td class="num">${int(r.won)}</td><td class="num">${tok(r.expected)}</td>
      <td class=${`num ${r.inBand === false ? 'warn' : ''}`}>${r.faceValue ? tok(r.awarded) : '–'}</td><td class="num">${tok(r.onChain)}</td>
      <td class="num">${r.low === null ? '–' : `${tok(r.low)} … ${tok(r.high)}`}</td><td class="bandcol"><${Band} r=${r} /></td></tr>`)}</tbody></table>
  <//>`
}

function ProofsCard({ s }) {
  const pr = s.proofs
  return html`<${Card} title="Proofs" id="proofs" note=${`${pr.slashes} slashes, ${tok(pr.slashed)} SOUK slashed`}>
    <table><thead><tr><th>provider</th><th>due</th><th>proven</th><th>faulted</th><th>unproven</th><th>slashed</th></tr></thead>
    <tbody>${pr.providers.map((r) => html`<tr data-provider=${r.name} key=${r.name}><td>${r.name}</td><td class="num">${int(r.due)}</td><td class="num">${int(r.proven)}</td>
      <td class=${`num ${r.faulted ? 'warn' : ''}`}>${int(r.faulted)}</td><td class="num">${int(r.skipped)}</td><td class="num">${tok(r.slashed)}</td></tr>`)}</tbody></table>
  <//>`
}

function CheatersCard({ s }) {
  return html`<${Card} title="Caught cheating" id="cheaters">
    ${s.cheaters.length ? html`<ul class="list">${s.cheaters.map((c) => html`<li data-cheater=${c.name}><b>${c.name}</b> ${c.role ? html`<small>(${c.role})</small>` : null}: ${c.how} <span class="count">×${c.count}</span></li>`)}</ul>` : html`<p class="muted">nobody yet</p>`}
  <//>`
}

function ChainEventsCard({ s, now }) {
  const byName = Object.entries(s.chain.eventsByName)
  return html`<${Card} title="On chain" id="onchain" note=${`${int(s.chain.blocks)} blocks seen`}>
    <div class="chips">${byName.map(([n, k]) => html`<span class="chip"><b>${k}</b> ${n}</span>`)}</div>
    <ul class="list log">${[...s.chain.recent].reverse().slice(0, 12).map((r) => html`<li><small>#${r.block}</small> ${r.contract}.<b>${r.event}</b> <small class="mono">${short(r.tx, 10)}</small> <small>${ago(r.at, now)}</small></li>`)}</ul>
  <//>`
}

function LogCard({ s, now }) {
  return html`<${Card} title="Activity" id="activity">
    <ul class="list log" id="log">${[...s.log].reverse().slice(0, 30).map((l) => html`<li data-kind=${l.kind}><small>${ago(l.at, now)}</small> ${l.text}</li>`)}</ul>
  <//>`
}

/** One uPlot chart; `series` = [{ label, key, scale, stroke }]. Data is replaced on every snapshot. */
function Chart({ s, title, id, series }) {
  const el = useRef(null), plot = useRef(null)
  const data = [s.series.t, ...series.map((x) => s.series[x.key])]
  const latest = useRef(data)
  latest.current = data
  useEffect(() => {
    let gone = false
    const onResize = () => plot.current?.setSize({ width: Math.max(280, el.current.clientWidth - 8), height: 180 })
    uPlotReady.then((UPlot) => {
      if (gone || !el.current) return
      const width = Math.max(280, el.current.clientWidth - 8)
      const scales = {}
      for (const x of series) scales[x.scale] = { auto: true, range: (_u, _min, max) => [0, Math.max(1, max)] }
      plot.current = new UPlot({
        width, height: 180, scales: { x: { time: false }, ...scales },
        series: [{ label: 's' }, ...series.map((x) => ({ label: x.label, scale: x.scale, stroke: x.stroke, width: 1.5, fill: `${x.stroke}22` }))],
        axes: [{ label: 'seconds since start' }, ...[...new Set(series.map((x) => x.scale))].map((sc, i) => ({ scale: sc, side: i === 0 ? 3 : 1, grid: { show: i === 0 }, size: 56, values: (_u, vals) => vals.map(si) }))],
        legend: { live: false },
      }, latest.current, el.current)
      window.addEventListener('resize', onResize)
    })
    return () => { gone = true; window.removeEventListener('resize', onResize); plot.current?.destroy(); plot.current = null }
  }, [])
  useEffect(() => { plot.current?.setData(data) })
  return html`<${Card} title=${title} id=${id} wide><div class="chart" ref=${el}></div><//>`
}

function App() {
  const [s, setS] = useState(null)
  const [live, setLive] = useState(false)
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const es = new EventSource('/api/events')
    es.addEventListener('state', (m) => { setS(JSON.parse(m.data)); setLive(true) })
    es.onerror = () => setLive(false)
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => { es.close(); clearInterval(t) }
  }, [])
  useEffect(() => { if (s) document.body.dataset.rendered = 'true' }, [s])
  if (!s) return html`<p class="muted">Connecting to the testnet…</p>`
  return html`
    <${Header} s=${s} live=${live} />
    <main>
      <${PeersCard} s=${s} now=${now} />
      <${ChainCard} s=${s} />
      <${PaymentsCard} s=${s} />
      <${Chart} s=${s} id="chart-work" title="Throughput: delivery and payments per second" series=${[
        { label: 'bytes served/s', key: 'bytes', scale: 'bytes', stroke: '#2563eb' },
        { label: 'payments/s', key: 'payments', scale: 'n', stroke: '#16a34a' },
        { label: 'proofs/s', key: 'proofs', scale: 'n', stroke: '#9333ea' },
      ]} />
      <${Chart} s=${s} id="chart-chain" title="Throughput: transactions and gas per second" series=${[
        { label: 'transactions/s', key: 'txs', scale: 'n', stroke: '#ea580c' },
        { label: 'gas/s', key: 'gas', scale: 'gas', stroke: '#64748b' },
      ]} />
      <${DealsCard} s=${s} />
      <${ProofsCard} s=${s} />
      <${CheatersCard} s=${s} />
      <${ChainEventsCard} s=${s} now=${now} />
      <${LogCard} s=${s} now=${now} />
    </main>
    <footer>JSON: <a href="/api/state">/api/state</a> · events: <a href="/api/events">/api/events</a> · Prometheus: <a href="/metrics">/metrics</a> · bytes served ${mib(s.traffic.bytesServed)}, verified ${mib(s.traffic.bytesVerified)}</footer>`
}

render(html`<${App} />`, document.getElementById('app'))
