// src/ (bind-mounted from the project) -> dist/bundle.js (the `assets` volume that `web` serves).
const path = require("path");

module.exports = {
  mode: "development",       // fast rebuilds and a readable bundle
  devtool: false,            // no eval() wrappers: the bundle is plain code
  context: __dirname,
  entry: "./src/index.js",
  output: {
    path: path.resolve(__dirname, "dist"),
    filename: "bundle.js",
  },
  watchOptions: {
    aggregateTimeout: 100,
  },
};
