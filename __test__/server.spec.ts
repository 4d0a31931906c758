// examples/server answers as documented: top-5 JSON for an image, 400 for bytes that are none.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('examples/server', () => {
  let server: ChildProcess;
  let url = '';
  beforeAll(async () => {
    server = spawn(process.execPath, [join(root, 'examples/server/server.mjs')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [banner] = await once(server.stdout ?? server, 'data');
    url = /http:\S+/.exec(String(banner))?.[0] ?? '';
  });
  afterAll(() => {
    server.kill('SIGTERM');
  });

  it('classifies concurrent uploads with the bundled model', async () => {
    const digits = ['3', '7', '9'];
    const answers = await Promise.all(
      digits.map((d) =>
        fetch(url, { method: 'POST', body: readFileSync(join(root, `samples/digits/digit-${d}.png`)) }),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      const labels = (await answer.json()) as { label: string; score: number }[];
      expect(labels).toHaveLength(5);
      expect(labels[0]?.label).toBe(digits[i]);
    }
  });

  it('answers 400 with the reason for bytes that are not an image', async () => {
    const answer = await fetch(url, { method: 'POST', body: 'not an image' });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ code: 'E_IMAGE' });
  });
});
