// Fair share between live servers, decided from their claims alone (no coordination of our own): a server takes
// another workflow only while no other live server holds fewer than it does. Ties may both try; the keyspace lock
// (create-if-absent) lets exactly one win.

/** May `me` take one more workflow, given how many each live server holds now (servers absent hold 0)? */
export function mayTake(me: string, live: string[], held: ReadonlyMap<string, number>): boolean {
  const mine = held.get(me) ?? 0
  return live.every((id) => id === me || (held.get(id) ?? 0) >= mine)
}
