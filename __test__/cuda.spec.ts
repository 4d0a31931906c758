// A CUDA device on the binary this checkout loads (the CPU build in native/, or the platform
// package): the request fails before any download with E_CUDA_UNAVAILABLE and a message that says
// how to get the CUDA build; cudaInfo() tells the same without loading a model.
import { describe, expect, it } from 'vitest';
import { BeitConfig, BeitModel, bundledModelDir, cudaInfo } from '../ts/index.js';
import { sampleCase } from './helpers/checkpoints.js';

const info = cudaInfo();

describe.skipIf(info.build)('CUDA on the CPU build', () => {
  it('cudaInfo() says there is no CUDA build, and why', () => {
    expect(info).toEqual({ build: false, devices: 0, reason: expect.any(String), auto: 'cpu' });
    // On linux-x64-gnu it says what to install; elsewhere, that the CUDA build is Linux x64 only.
    expect(info.reason).toContain('beit-node-linux-x64-gnu-cuda');
    expect(info.reason).toContain('NVIDIA driver 580 or newer');
  });

  it("fromPretrained with device 'cuda' or 'cuda:N' rejects with E_CUDA_UNAVAILABLE, saying what to do", async () => {
    for (const device of ['cuda', 'cuda:1', ' CUDA:0 '] as const) {
      await expect(
        BeitModel.fromPretrained(bundledModelDir('beit-digits'), { device: device as 'cuda' }),
      ).rejects.toMatchObject({
        name: 'BeitError',
        code: 'E_CUDA_UNAVAILABLE',
        message: expect.stringContaining(
          `device '${device}' was requested, but the beit-node binary in use has no CUDA support: ${info.reason}`,
        ),
      });
    }
  });

  it('fails before the hub is asked, and fromConfig fails the same way', async () => {
    // The test hub endpoint refuses connections: a download attempt would give E_NETWORK.
    await expect(BeitModel.fromPretrained('microsoft/beit-base-patch16-224', { device: 'cuda' })).rejects.toMatchObject(
      {
        code: 'E_CUDA_UNAVAILABLE',
      },
    );
    const config = await BeitConfig.fromPretrained(sampleCase);
    await expect(BeitModel.fromConfig(config, { device: 'cuda:0' })).rejects.toMatchObject({
      code: 'E_CUDA_UNAVAILABLE',
      message: expect.stringContaining("use device 'cpu'"),
    });
  });

  it("device 'auto' falls back to the CPU, and the model says where it runs", async () => {
    const model = await BeitModel.fromPretrained(bundledModelDir('beit-digits'), { device: 'auto' });
    expect(model.device).toBe('cpu');
    await model.dispose();
    const config = await BeitConfig.fromPretrained(sampleCase);
    const random = await BeitModel.fromConfig(config, { device: 'auto' });
    expect(random.device).toBe('cpu');
    await random.dispose();
  });

  it("leaves other device names to the addon's own check", async () => {
    await expect(BeitModel.fromPretrained(sampleCase, { device: 'cudax' as 'cuda' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
  });
});
