// Pure parts of the local tooling: splitting schema files, my.cnf of an instance, loopback etcd URLs.
import {describe, expect, it} from 'vitest'
import {renderMyCnf} from '../../src/local/mariadb.js'
import {localEtcdPort} from '../../src/local/etcd.js'
import {splitStatements} from '../../src/mysql/schema-file.js'

describe('splitStatements', () => {
  it('splits at semicolons outside quotes and comments', () => {
    const sql = `-- a comment; not a split
CREATE TABLE a (x VARCHAR(10) DEFAULT ';', y VARCHAR(10) DEFAULT 'it''s; ok') ENGINE=InnoDB;
/* block; comment */ CREATE TABLE \`b;c\` (z INT COMMENT "say \\"hi\\"; there");
# hash comment;
INSERT INTO a VALUES ('\\';', 'x');

;;
`
    expect(splitStatements(sql)).toEqual([
      "-- a comment; not a split\nCREATE TABLE a (x VARCHAR(10) DEFAULT ';', y VARCHAR(10) DEFAULT 'it''s; ok') ENGINE=InnoDB",
      '/* block; comment */ CREATE TABLE `b;c` (z INT COMMENT "say \\"hi\\"; there")',
      "# hash comment;\nINSERT INTO a VALUES ('\\';', 'x')",
    ])
  })
  it('drops comment-only pieces and refuses DELIMITER', () => {
    expect(splitStatements('-- nothing\n/* here */\n')).toEqual([])
    expect(() => splitStatements('DELIMITER //\nCREATE PROCEDURE p() BEGIN END //')).toThrow(
      /DELIMITER is not supported/,
    )
  })
})

describe('local cluster configuration', () => {
  it('writes a my.cnf on loopback with binlog, GTID and small memory; replicas read-only', () => {
    const p = {
      dir: '/d',
      cnf: '/d/my.cnf',
      datadir: '/d/data',
      tmpdir: '/d/tmp',
      socket: '/d/mysql.sock',
      pidFile: '/d/p',
      errorLog: '/d/e',
      outLog: '/d/o',
    }
    const primary = renderMyCnf({alias: 't-1', role: 'primary', port: 17100, serverId: 17100, bufferPool: '32M'}, p)
    for (const line of [
      'bind-address=127.0.0.1',
      'port=17100',
      'server_id=17100',
      'log_bin=binlog',
      'binlog_format=ROW',
      'binlog_row_image=FULL',
      'gtid_strict_mode=1',
      'log_slave_updates=1',
      'local_infile=1',
      'performance_schema=OFF',
      'innodb_buffer_pool_size=32M',
      'skip-name-resolve',
      'socket=/d/mysql.sock',
      'tmpdir=/d/tmp',
    ]) {
      expect(primary.split('\n')).toContain(line)
    }
    expect(primary).not.toMatch(/^read_only/m)
    expect(renderMyCnf({alias: 't-2', role: 'rdonly', port: 17102, serverId: 17102, bufferPool: '32M'}, p)).toMatch(
      /^read_only=ON$/m,
    )
  })
  it('starts etcd only for a single loopback endpoint', () => {
    expect(localEtcdPort('etcd://127.0.0.1:12379/shardform')).toBe(12379)
    expect(localEtcdPort('etcd://localhost:2379/x')).toBe(2379)
    expect(localEtcdPort('etcd://10.0.0.1:2379/x')).toBeUndefined()
    expect(localEtcdPort('etcd://127.0.0.1:1,127.0.0.1:2/x')).toBeUndefined()
    expect(localEtcdPort('file:.shardform/topo')).toBeUndefined()
    expect(localEtcdPort(undefined)).toBeUndefined()
  })
})
