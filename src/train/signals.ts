// Ctrl-C and SIGTERM during training: the first asks the trainer to stop at
// the next step boundary (it then saves last and says how to resume); a
// second one exits at once.
export function handleInterrupts(onFirst: (signal: NodeJS.Signals) => void, onSecond: () => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) onFirst(signal);
    else {
      onSecond();
      process.exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
