'use strict';

// The trace types the dashboard draws (dashboard/figures.py, parcoords.py, importance.py);
// scatter comes with the core. A new trace type in the dashboard must be added here, then
// the bundle rebuilt (README.md here); tests/dashboard/test_plotly_bundle.py checks the list.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/scattergl'),
    require('plotly.js/lib/parcoords'),
    require('plotly.js/lib/bar'),
]);

// WebGL drawn at the screen's pixel density: plotly.js's default (2) draws four times the
// pixels of a 1x screen, which software WebGL (a browser without a GPU) pays in every drawing.
Plotly.setPlotConfig({plotGlPixelRatio: Math.min(4, Math.max(1, window.devicePixelRatio || 1))});

module.exports = Plotly;
