// Builds ../../dashboard/assets/plotly-tinydse.min.js: plotly.js with only the trace types
// in entry.js, with the options of plotly.js's own esbuild-config.js (CSS is only maplibre's,
// for map traces this bundle does not have: left out). Run: npm ci && npm run build
import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { environmentPlugin } from 'esbuild-plugin-environment';

const here = new URL('.', import.meta.url);
const out = new URL('../../dashboard/assets/plotly-tinydse.min.js', here);
const pkg = JSON.parse(readFileSync(new URL('node_modules/plotly.js/package.json', here)));
const traces = ['scatter', ...[...readFileSync(new URL('entry.js', here), 'utf8')
    .matchAll(/require\('plotly\.js\/lib\/(\w+)'\)/g)].map((m) => m[1]).filter((t) => t !== 'core')];

const result = await build({
    entryPoints: [new URL('entry.js', here).pathname],
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    write: false,
    legalComments: 'eof',  // the bundled packages' own licence notices
    plugins: [environmentPlugin({ NODE_DEBUG: false })],
    loader: { '.css': 'empty' },
    alias: { regl: '@plotly/regl' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'warning',
});
const banner = `/**
* plotly.js v${pkg.version} (tinydse partial bundle; traces: ${traces.join(',')})
* Copyright 2012-2026, Plotly, Inc. All rights reserved.
* Licensed under the MIT license: https://github.com/plotly/plotly.js/blob/master/LICENSE
* Built by scripts/plotly_bundle/build.mjs with esbuild from the plotly.js npm package.
*/
`;
writeFileSync(out, banner + result.outputFiles[0].text);
console.log(`wrote ${out.pathname}: plotly.js ${pkg.version}, ${traces.join(', ')}`);
