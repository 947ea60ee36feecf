// Stand-in for @tensorflow/tfjs-node (see package.json). The real package
// re-exports @tensorflow/tfjs and adds a native backend; this one re-exports
// @tensorflow/tfjs only, so everything runs on the pure-JS CPU backend.
'use strict';

module.exports = require('@tensorflow/tfjs');
