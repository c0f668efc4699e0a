// Deferred secondary keys, the pure part: a CREATE TABLE as MariaDB prints it, split into the table with its primary
// key only and the keys to add afterwards.
import {describe, expect, it} from 'vitest'
import {addKeysStatement, missingKeys, splitSecondaryKeys} from '../../src/mysql/secondary-keys.js'

const CREATE = [
  'CREATE TABLE `notes` (',
  '  `page` bigint(20) unsigned NOT NULL,',
  '  `tag` varchar(20) NOT NULL,',
  '  `body` text DEFAULT NULL,',
  '  PRIMARY KEY (`page`),',
  '  UNIQUE KEY `uk_tag` (`tag`),',
  '  KEY `k_body` (`body`(10)),',
  '  FULLTEXT KEY `ft` (`body`)',
  ') ENGINE=InnoDB DEFAULT CHARSET=latin1',
].join('\n')

describe('splitSecondaryKeys', () => {
  it('keeps the columns and the primary key, and lists the other keys in order', () => {
    const {table, keys} = splitSecondaryKeys(CREATE)
    expect(table).toBe(
      [
        'CREATE TABLE `notes` (',
        '  `page` bigint(20) unsigned NOT NULL,',
        '  `tag` varchar(20) NOT NULL,',
        '  `body` text DEFAULT NULL,',
        '  PRIMARY KEY (`page`)',
        ') ENGINE=InnoDB DEFAULT CHARSET=latin1',
      ].join('\n'),
    )
    expect(keys).toEqual(['UNIQUE KEY `uk_tag` (`tag`)', 'KEY `k_body` (`body`(10))', 'FULLTEXT KEY `ft` (`body`)'])
  })

  it('leaves a table with a foreign key, or with no secondary key, as it is', () => {
    const fk = CREATE.replace(
      '  FULLTEXT KEY `ft` (`body`)',
      '  FULLTEXT KEY `ft` (`body`),\n  CONSTRAINT `f` FOREIGN KEY (`page`) REFERENCES `p` (`id`)',
    )
    expect(splitSecondaryKeys(fk)).toEqual({table: fk, keys: []})
    const plain = 'CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB'
    expect(splitSecondaryKeys(plain)).toEqual({table: plain, keys: []})
  })

  it('a resumed run adds only what is missing, in one online statement', () => {
    const half = CREATE.replace('  KEY `k_body` (`body`(10)),\n', '')
    expect(missingKeys(CREATE, half)).toEqual(['KEY `k_body` (`body`(10))'])
    expect(missingKeys(CREATE, CREATE)).toEqual([])
    expect(addKeysStatement('db', 'notes', ['KEY `a` (`x`)', 'UNIQUE KEY `b` (`y`)'])).toBe(
      'ALTER TABLE `db`.`notes` ADD KEY `a` (`x`), ADD UNIQUE KEY `b` (`y`), ALGORITHM=INPLACE, LOCK=NONE',
    )
  })
})
