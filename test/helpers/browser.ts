// Debian's Chromium driven by playwright-core, with the flags this machine needs (TOOLCHAIN.md): without the
// background-networking ones Chromium keeps opening connections that the closed network refuses.
import {existsSync} from 'node:fs'
import {chromium, type Browser} from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A headless browser with a fresh profile folder of its own (removed on close). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; setup.sh does)`)
  return chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS})
}
