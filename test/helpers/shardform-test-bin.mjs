#!/usr/bin/env node
// TEST ONLY entry point: the built CLI, started as bin/run.js starts it, with the test runtime (engine-runtime.mjs)
// installed in this process through the CLI's composition root. Shipped code has no way to load it.
import {execute} from '@oclif/core'
import {installRuntime} from '../../dist/cli/runtime.js'
import testRuntime from './engine-runtime.mjs'

installRuntime(testRuntime)
await execute({dir: new URL('../../bin/run.js', import.meta.url).href})
