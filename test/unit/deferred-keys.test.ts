// settings.deferSecondaryKeys: splitting SHOW CREATE TABLE into the table copy_schema creates and the keys added
// after the copy, and what the plan says about it.
import {describe, expect, it} from 'vitest'
import {addKeysStatement, secondaryKeys, splitSecondaryKeys} from '../../src/mysql/deferred-keys.js'
import {plan} from '../../src/plan/index.js'
import {renderPlanText} from '../../src/cli/views/plan-text.js'
import {colors} from '../../src/util/color.js'
import {makeLayout} from '../helpers/layouts.js'
import {stateOf} from '../helpers/state.js'

const TWO_KEYS = [
  'CREATE TABLE `orders` (',
  '  `id` bigint(20) unsigned NOT NULL,',
  '  `customer` bigint(20) NOT NULL,',
  "  `note` varchar(200) DEFAULT 'a, b',",
  '  PRIMARY KEY (`id`),',
  '  UNIQUE KEY `u_note` (`note`),',
  "  KEY `k_customer` (`customer`,`id`) COMMENT 'by customer, then id'",
  ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci',
].join('\n')

describe('splitSecondaryKeys', () => {
  it('takes plain and unique keys off, in order, and leaves a valid CREATE TABLE', () => {
    const s = splitSecondaryKeys(TWO_KEYS)
    expect(s.keys).toEqual([
      'UNIQUE KEY `u_note` (`note`)',
      "KEY `k_customer` (`customer`,`id`) COMMENT 'by customer, then id'",
    ])
    expect(s.base).toBe(
      [
        'CREATE TABLE `orders` (',
        '  `id` bigint(20) unsigned NOT NULL,',
        '  `customer` bigint(20) NOT NULL,',
        "  `note` varchar(200) DEFAULT 'a, b',",
        '  PRIMARY KEY (`id`)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci',
      ].join('\n'),
    )
    expect(s.kept).toBeUndefined()
    expect(addKeysStatement('db', 'orders', s.keys)).toBe(
      "ALTER TABLE `db`.`orders` ADD UNIQUE KEY `u_note` (`note`), ADD KEY `k_customer` (`customer`,`id`) COMMENT 'by customer, then id'",
    )
  })

  it('keeps the definitions after the keys (a CHECK constraint) and their commas right', () => {
    const create = TWO_KEYS.replace(
      "COMMENT 'by customer, then id'",
      "COMMENT 'by customer, then id',\n  CONSTRAINT `c` CHECK (`customer` > 0)",
    )
    const s = splitSecondaryKeys(create)
    expect(s.keys).toHaveLength(2)
    expect(s.base).toContain('  PRIMARY KEY (`id`),\n  CONSTRAINT `c` CHECK (`customer` > 0)\n) ENGINE')
  })

  it('leaves a table without secondary keys as it is', () => {
    const create = 'CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB'
    expect(splitSecondaryKeys(create)).toEqual({base: create, keys: []})
  })

  it.each([
    ['foreign keys', '  CONSTRAINT `fk` FOREIGN KEY (`customer`) REFERENCES `customers` (`id`)', /foreign keys/],
    ['a fulltext key', '  FULLTEXT KEY `ft` (`note`)', /FULLTEXT/],
  ])('keeps a table with %s whole', (_, extra, why) => {
    const create = TWO_KEYS.replace('\n) ENGINE', `,\n${extra}\n) ENGINE`)
    const s = splitSecondaryKeys(create)
    expect(s).toMatchObject({base: create, keys: []})
    expect(s.kept).toMatch(why)
    expect(secondaryKeys(create)).toHaveLength(2)
  })

  it('keeps a table whose AUTO_INCREMENT column leads only a secondary key', () => {
    const create = [
      'CREATE TABLE `t` (',
      '  `a` int(11) NOT NULL,',
      '  `n` int(11) NOT NULL AUTO_INCREMENT,',
      '  PRIMARY KEY (`a`,`n`),',
      '  KEY `k_n` (`n`)',
      ') ENGINE=InnoDB',
    ].join('\n')
    expect(splitSecondaryKeys(create).kept).toMatch(/AUTO_INCREMENT/)
    const leading = create.replace('PRIMARY KEY (`a`,`n`)', 'PRIMARY KEY (`n`,`a`)')
    expect(splitSecondaryKeys(leading).keys).toEqual(['KEY `k_n` (`n`)'])
  })
})

describe('the plan of a copy with deferred keys', () => {
  const text = (extra?: string) => {
    const p = plan(stateOf(makeLayout(['0'])), makeLayout(['-80', '80-'], {extra, base: 2000}), {
      now: '2026-01-01T00:00:00.000Z',
    })
    return renderPlanText(p, colors(false))
  }
  it('says the keys are left out of copy_schema and added before the wait for replication', () => {
    const on = text('settings:\n  deferSecondaryKeys: true')
    expect(on).toMatch(
      /copy_schema\/-80.*tables without their secondary keys \(deferSecondaryKeys: added after the copy\)/,
    )
    expect(on).toMatch(
      /wait_for_filtered_replication\/80-.*add the deferred secondary keys \(one ALTER TABLE per table/,
    )
    const off = text()
    expect(off).not.toMatch(/secondary keys/)
  })
})
