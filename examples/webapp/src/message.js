// Edit this line while `pycompose up` runs: webpack rebuilds the bundle, reload the page.
export const message = "Hello from the webpack bundle";
