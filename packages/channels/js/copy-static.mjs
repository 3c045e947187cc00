// npm cannot pack files from outside this directory, and the one true copy of
// the bridge is the Django static file that ships in the channels wheel. So
// `npm pack` / `npm publish` copy it in (prepack) and remove the copies again
// (postpack); nothing is built or transformed.
//
//   node copy-static.mjs copy|clean
import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'src', 'channels', 'static', 'channels', 'js');
const files = ['websocketbridge.js', 'websocketbridge.mjs'];
const action = process.argv[2];

if (action === 'copy') {
  for (const name of files) copyFileSync(join(source, name), join(here, name));
} else if (action === 'clean') {
  for (const name of files) rmSync(join(here, name), { force: true });
} else {
  console.error(`usage: node copy-static.mjs copy|clean (got ${JSON.stringify(action)})`);
  process.exit(2);
}
