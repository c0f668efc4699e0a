// The lag of one stream over the last minutes, drawn with uPlot (served from the package's node_modules/uplot/dist).
import uPlot from '/vendor/uplot/uPlot.esm.js'
import {h} from './dom.js'

const WINDOW_S = 10 * 60

/** A small lag chart: add(tSeconds, lagMs) appends a sample and redraws; samples older than 10 minutes drop off. */
export class LagChart {
  constructor() {
    this.xs = []
    this.ys = []
    this.el = h('div', {class: 'lag-chart'})
    this.plot = new uPlot(
      {
        width: 340,
        height: 110,
        legend: {show: false},
        cursor: {show: false},
        scales: {x: {time: true}, y: {range: (_u, _min, max) => [0, Math.max(200, max * 1.2)]}},
        axes: [
          {size: 24, font: '10px system-ui', stroke: '#667'},
          {size: 56, font: '10px system-ui', stroke: '#667', values: (_u, v) => v.map((x) => lagLabel(x))},
        ],
        series: [
          {},
          {label: 'lag', stroke: '#2f6fdd', fill: 'rgba(47,111,221,0.12)', width: 1.5, points: {show: false}},
        ],
      },
      [[], []],
      this.el,
    )
  }

  add(t, lagMs) {
    if (this.xs.length && t <= this.xs[this.xs.length - 1]) return
    this.xs.push(t)
    this.ys.push(lagMs)
    while (this.xs.length && this.xs[0] < t - WINDOW_S) {
      this.xs.shift()
      this.ys.shift()
    }
    this.el.dataset.samples = String(this.xs.length)
    this.plot.setData([this.xs, this.ys])
  }
}

function lagLabel(ms) {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`
}
