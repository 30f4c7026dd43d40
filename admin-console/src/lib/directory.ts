// The seats and skill groups that filters and forms choose from. A failure is said once, and
// the screen goes on with empty choices instead of failing whole.
import { ElMessage } from 'element-plus'
import { api, call, type Account, type Schemas } from '@kefu/shared/api'
import { explain } from '@kefu/shared/errors'

type Group = Schemas['SkillGroupDto']

export async function skillGroups(): Promise<Group[]> {
  try {
    return await call(api.GET('/api/v1/skill-groups'))
  } catch (e) {
    ElMessage.error(explain(e))
    return []
  }
}

export async function seatsAndGroups(): Promise<[Account[], Group[]]> {
  try {
    return await Promise.all([call(api.GET('/api/v1/accounts', { params: { query: {} } })), call(api.GET('/api/v1/skill-groups'))])
  } catch (e) {
    ElMessage.error(explain(e))
    return [[], []]
  }
}
