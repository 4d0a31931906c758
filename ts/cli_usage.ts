/**
 * The `beit` command line's usage text, apart from the commands so that `--help` works even where
 * the native addon cannot load.
 * @module
 */

/** The model the commands use when `--model` is not given. */
export const DEFAULT_MODEL = 'microsoft/beit-base-patch16-224';

/** The model `depth` uses when `--model` is not given. */
export const DEFAULT_DEPTH_MODEL = 'Intel/dpt-beit-base-384';

/** What `beit --help` prints. */
export const USAGE = `Usage: beit <command> [options] <images...>
       beit --task <pipeline task> [options] <images...>

Commands:
  classify   the top labels of each image                 (--task image-classification)
  segment    a colour PNG label map per image (--out DIR)  (--task image-segmentation)
  depth      a grey PNG depth picture per image, nearer brighter (--out DIR; DPT-BEiT,
             default model ${DEFAULT_DEPTH_MODEL})          (--task depth-estimation)
  embed      pooled features of each image (JSON, or --npy FILE) (--task image-feature-extraction)
  mim        masked image modeling: predicted visual tokens of randomly masked patches
  bench      model-only throughput (images/s) on random pixels
  worker     serve a BullMQ queue on Redis (--queue NAME [--redis URL] [--task T] [--concurrency N]
             [--files-root DIR] [--health-port P]) until SIGTERM; needs npm install bullmq ioredis
  cuda-setup install NVIDIA's CUDA 13.0 runtime wheels (pip) where the CUDA build finds them
             (beit cuda-setup --help)

Options:
  --model <dir|repo id>  checkpoint directory or HuggingFace repo id (default ${DEFAULT_MODEL})
  --revision <rev>       branch, tag or commit of a repo id      --cache-dir <dir>  HuggingFace cache
  --offline              only the cache, no download (as HF_HUB_OFFLINE=1; HF_ENDPOINT, HF_TOKEN also apply)
  --device <name>        cpu, cuda, cuda:N or auto (default cpu) --dtype <name>     float32, float16, bfloat16, q8
  --batch-size <n>       images per forward pass (default 8)     --json             machine-readable output
  --threads <n>          CPU threads of the model (default BEIT_NUM_THREADS, else one per core)
  --top-k <n>            labels per image (classify, default 5)  --out <dir>        where segment, depth write PNGs
  --npy <file>           embed: write features as .npy           --mask-ratio <r>   mim: share masked (0.4)
  --seed <n>             mim: mask seed (default 0)              --runs <n>         bench: timed runs (5)
  --random               bench: a BEiT-base config with random weights instead of --model
  --processor <dir|repo> image processor of this checkpoint's preprocessor_config.json instead of
                         the model's own (which a model may lack)
  --default-processor    for a model without preprocessor_config.json: HF's BeitImageProcessor
                         defaults at the model's image size (bicubic, centre crop, mean/std 0.5); warns
  -h, --help             this text

Images: file paths, or http(s), file: and data: URLs (downloaded into memory: at most 64 MiB and 60 s each).`;
